"""SES events as SES publishes them to SNS, after the examples in the SES Developer Guide:
the notifications of an identity (``notificationType``) and the events of a configuration
set (``eventType``). Every field SES sends is here, those we do not read included."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from export_resend.testing.delivery_events import sns_timestamp

SES_ID = "0100019a2b3c4d5e-1f2e3d4c-5b6a-4789-9abc-def012345678-000000"
"""The id SES gave the message (and returned in its ``250 Ok <id>`` reply)."""
OUR_ID = "<5f0c0e7a9b2d4c1e8f3a6b7c9d0e1f2a@exports.example.com>"
"""The Message-ID we wrote, which SES replaced with its own when sending."""
SENDER = "exports@exports.example.com"


def mail(
    destination: Sequence[str],
    sent_at: datetime,
    *,
    original_headers: bool = True,
    message_id: str = OUR_ID,
) -> dict[str, Any]:
    """The ``mail`` object; with ``original_headers``, the headers we sent are included."""
    body: dict[str, Any] = {
        "timestamp": sns_timestamp(sent_at),
        "source": SENDER,
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/exports.example.com",
        "sourceIp": "203.0.113.10",
        "callerIdentity": "ses-smtp-user.20260101-120000",
        "sendingAccountId": "123456789012",
        "messageId": SES_ID,
        "destination": list(destination),
    }
    if original_headers:
        to, *cc = destination
        headers = [
            ("From", SENDER),
            ("To", to),
            *([("Cc", ", ".join(cc))] if cc else []),
            ("Subject", "Your supplier payouts export is ready"),
            ("Date", "Thu, 15 Jan 2026 09:30:00 +0000"),
            ("Message-ID", message_id),
            ("Auto-Submitted", "auto-generated"),
            ("MIME-Version", "1.0"),
            ("Content-Type", 'multipart/alternative; boundary="===============1234=="'),
        ]
        body["headersTruncated"] = False
        body["headers"] = [{"name": n, "value": v} for n, v in headers]
        body["commonHeaders"] = {
            "from": [SENDER],
            "date": "Thu, 15 Jan 2026 09:30:00 +0000",
            "to": [to],
            **({"cc": cc} if cc else {}),
            "messageId": message_id,
            "subject": "Your supplier payouts export is ready",
        }
    return body


def bounce(
    recipients: Sequence[str],
    at: datetime,
    *,
    bounce_type: str = "Permanent",
    sub_type: str = "General",
    destination: Sequence[str] | None = None,
    original_headers: bool = True,
) -> dict[str, Any]:
    """A bounce notification for ``recipients`` (of a message sent to ``destination``)."""
    bounced = [
        {
            "emailAddress": address,
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": f"smtp; 550 5.1.1 <{address}>... User unknown",
        }
        for address in recipients
    ]
    if bounce_type != "Permanent":  # no DSN: SES gives the address alone
        bounced = [{"emailAddress": address} for address in recipients]
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": bounced,
            "timestamp": sns_timestamp(at),
            "feedbackId": "0100019a2b3c4d5e-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-000000",
            "remoteMtaIp": "198.51.100.25",
            "reportingMTA": "dns; a1-2.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": mail(
            destination or recipients, at - timedelta(seconds=2), original_headers=original_headers
        ),
    }


def complaint(
    recipients: Sequence[str],
    at: datetime,
    *,
    feedback_type: str | None = "abuse",
    destination: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A complaint notification (a feedback report from the recipient's mailbox provider)."""
    body: dict[str, Any] = {
        "complainedRecipients": [{"emailAddress": address} for address in recipients],
        "timestamp": sns_timestamp(at),
        "feedbackId": "0100019a2b3c4d5e-ffffffff-1111-2222-3333-444444444444-000000",
        "complaintSubType": None,
        "userAgent": "ExampleCorp Feedback Loop (V0.01)",
        "arrivalDate": sns_timestamp(at - timedelta(seconds=30)),
    }
    if feedback_type is not None:
        body["complaintFeedbackType"] = feedback_type
    return {
        "notificationType": "Complaint",
        "complaint": body,
        "mail": mail(destination or recipients, at - timedelta(hours=1)),
    }


def delivery(recipients: Sequence[str], at: datetime) -> dict[str, Any]:
    """A delivery notification: the receiving server took the message for ``recipients``."""
    return {
        "notificationType": "Delivery",
        "delivery": {
            "timestamp": sns_timestamp(at),
            "processingTimeMillis": 1312,
            "recipients": list(recipients),
            "smtpResponse": "250 2.6.0 Message received",
            "remoteMtaIp": "198.51.100.25",
            "reportingMTA": "a1-2.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": mail(recipients, at - timedelta(seconds=2)),
    }


def published(notification: dict[str, Any]) -> dict[str, Any]:
    """The same event as a configuration set's event publishing sends it: ``eventType``
    instead of ``notificationType``, and the configuration set's tags on ``mail``."""
    event = {k: v for k, v in notification.items() if k != "notificationType"}
    event = {"eventType": notification["notificationType"], **event}
    event["mail"] = {
        **event["mail"],
        "tags": {
            "ses:configuration-set": ["export-resend"],
            "ses:source-ip": ["203.0.113.10"],
            "ses:from-domain": ["exports.example.com"],
            "ses:caller-identity": ["ses-smtp-user.20260101-120000"],
        },
    }
    return event


def other_event(event_type: str, recipients: Sequence[str], at: datetime) -> dict[str, Any]:
    """An event-publishing event we do not record (Send, Open, Click, DeliveryDelay, ...)."""
    details: dict[str, Any] = {"timestamp": sns_timestamp(at)}
    if event_type == "Open":
        details |= {"ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"}
    if event_type == "Click":
        details |= {"link": "https://exports.example.com/v1/exports/x/download?token=y"}
    key = event_type[0].lower() + event_type[1:]
    return {"eventType": event_type, "mail": mail(recipients, at), key: details}


def as_message(event: dict[str, Any]) -> str:
    """The SNS ``Message`` SES writes for ``event``."""
    return json.dumps(event)
