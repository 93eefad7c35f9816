"""The SES event inside an SNS notification, read into delivery events.

Both of SES's formats are read: the notifications of an identity (``notificationType``) and
the event publishing of a configuration set (``eventType``). Their ``mail``, ``bounce``,
``complaint`` and ``delivery`` objects have the same shape. Fields we do not use are
ignored, since SES adds fields when it likes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from export_resend.application.addresses import EmailAddress
from export_resend.application.event_bodies import describe, load_json_object
from export_resend.domain.delivery_events import (
    BounceType,
    DeliveryEvent,
    DeliveryEventType,
    EventIgnored,
    EventProvider,
    IgnoredReason,
    MalformedEvent,
    check_message_id,
    check_provider_message_id,
)

_TRACKED = {
    "Bounce": DeliveryEventType.BOUNCED,
    "Complaint": DeliveryEventType.COMPLAINED,
    "Delivery": DeliveryEventType.DELIVERED,
}
_BOUNCE_TYPES = {
    "Permanent": BounceType.PERMANENT,
    "Transient": BounceType.TRANSIENT,
    "Undetermined": BounceType.UNDETERMINED,
}
_NOT_SPAM = "not-spam"
_MAX_RECIPIENTS = 100
"""More than SES sends one message to (50), so that a list this long is not SES's."""


class _Read(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Header(_Read):
    name: StrictStr
    value: StrictStr


class _CommonHeaders(_Read):
    message_id: StrictStr | None = Field(None, alias="messageId")


class _Mail(_Read):
    message_id: StrictStr = Field(alias="messageId")
    headers: tuple[_Header, ...] = ()
    common_headers: _CommonHeaders | None = Field(None, alias="commonHeaders")


class _BouncedRecipient(_Read):
    email_address: EmailAddress = Field(alias="emailAddress")
    status: StrictStr | None = None
    diagnostic_code: StrictStr | None = Field(None, alias="diagnosticCode")


class _Bounce(_Read):
    bounce_type: Literal["Permanent", "Transient", "Undetermined"] = Field(alias="bounceType")
    bounce_sub_type: StrictStr | None = Field(None, alias="bounceSubType")
    recipients: Annotated[
        tuple[_BouncedRecipient, ...], Field(min_length=1, max_length=_MAX_RECIPIENTS)
    ] = Field(alias="bouncedRecipients")
    timestamp: AwareDatetime


class _ComplainedRecipient(_Read):
    email_address: EmailAddress = Field(alias="emailAddress")


class _Complaint(_Read):
    recipients: Annotated[
        tuple[_ComplainedRecipient, ...], Field(min_length=1, max_length=_MAX_RECIPIENTS)
    ] = Field(alias="complainedRecipients")
    timestamp: AwareDatetime
    feedback_type: StrictStr | None = Field(None, alias="complaintFeedbackType")
    sub_type: StrictStr | None = Field(None, alias="complaintSubType")


class _Delivery(_Read):
    recipients: Annotated[tuple[EmailAddress, ...], Field(min_length=1, max_length=_MAX_RECIPIENTS)]
    timestamp: AwareDatetime
    smtp_response: StrictStr | None = Field(None, alias="smtpResponse")


class _BounceEvent(_Read):
    mail: _Mail
    bounce: _Bounce


class _ComplaintEvent(_Read):
    mail: _Mail
    complaint: _Complaint


class _DeliveryEvent(_Read):
    mail: _Mail
    delivery: _Delivery


_MODELS: dict[str, type[_BounceEvent | _ComplaintEvent | _DeliveryEvent]] = {
    "Bounce": _BounceEvent,
    "Complaint": _ComplaintEvent,
    "Delivery": _DeliveryEvent,
}


def ses_events(message: str, published_at: datetime, skew: timedelta) -> tuple[DeliveryEvent, ...]:
    """The events of the SES event ``message`` (an SNS notification's ``Message``), one per
    recipient, each recipient once. ``published_at`` is the notification's SNS timestamp:
    an event dated more than ``skew`` after it is malformed.

    Raises ``EventIgnored`` for an event type we do not record (``Send``, ``Open``, ``Click``,
    ``AmazonSnsSubscriptionSucceeded``...) and for a complaint whose feedback type is
    ``not-spam``; ``MalformedEvent`` when the message cannot be read.
    """
    try:
        raw = load_json_object(message)
    except ValueError as exc:
        raise MalformedEvent(f"Message: {exc}") from None
    kind = raw.get("eventType", raw.get("notificationType"))
    if not isinstance(kind, str):
        raise MalformedEvent("Message: neither eventType nor notificationType is a string")
    model = _MODELS.get(kind)
    if model is None:
        raise EventIgnored(IgnoredReason.NOT_TRACKED, f"SES {kind}")
    try:
        event = model.model_validate_json(message)
    except ValidationError as exc:
        raise MalformedEvent(describe(exc, "Message")) from None
    try:
        provider_message_id = check_provider_message_id(event.mail.message_id)
    except ValueError:
        raise MalformedEvent("Message.mail.messageId: not an SES message id") from None
    base = {
        "provider": EventProvider.SES,
        "message_id": _original_message_id(event.mail),
        "provider_message_id": provider_message_id,
    }
    events = tuple(_read(event, base))
    for each in events:
        if each.at > published_at + skew:
            raise MalformedEvent("Message: an event is dated after SNS published it")
    return events


def _read(
    event: _BounceEvent | _ComplaintEvent | _DeliveryEvent, base: dict[str, Any]
) -> list[DeliveryEvent]:
    seen: set[str] = set()

    def once(address: str) -> bool:
        first = address.casefold() not in seen
        seen.add(address.casefold())
        return first

    if isinstance(event, _BounceEvent):
        bounce = event.bounce
        return [
            DeliveryEvent(
                type=DeliveryEventType.BOUNCED,
                at=bounce.timestamp.astimezone(UTC),
                recipient=r.email_address,
                bounce_type=_BOUNCE_TYPES[bounce.bounce_type],
                diagnostic=_joined(bounce.bounce_sub_type, r.diagnostic_code or r.status),
                **base,
            )
            for r in bounce.recipients
            if once(r.email_address)
        ]
    if isinstance(event, _ComplaintEvent):
        complaint = event.complaint
        if complaint.feedback_type == _NOT_SPAM:
            raise EventIgnored(IgnoredReason.NOT_A_COMPLAINT, "SES Complaint not-spam")
        return [
            DeliveryEvent(
                type=DeliveryEventType.COMPLAINED,
                at=complaint.timestamp.astimezone(UTC),
                recipient=r.email_address,
                diagnostic=_joined(complaint.feedback_type, complaint.sub_type),
                **base,
            )
            for r in complaint.recipients
            if once(r.email_address)
        ]
    delivery = event.delivery
    return [
        DeliveryEvent(
            type=DeliveryEventType.DELIVERED,
            at=delivery.timestamp.astimezone(UTC),
            recipient=address,
            diagnostic=delivery.smtp_response,
            **base,
        )
        for address in delivery.recipients
        if once(address)
    ]


def _joined(*parts: str | None) -> str | None:
    return ": ".join(p for p in parts if p) or None


def _original_message_id(mail: _Mail) -> str | None:
    """Our Message-ID, from the original headers SES includes when told to (SES sends the
    message with a Message-ID of its own); ``None`` if they are not included."""
    candidates = [h.value for h in mail.headers if h.name.lower() == "message-id"]
    if mail.common_headers is not None and mail.common_headers.message_id is not None:
        candidates.append(mail.common_headers.message_id)
    for candidate in candidates:
        value = candidate.strip()
        if not value.startswith("<") and "@" in value:
            value = f"<{value}>"
        try:
            return check_message_id(value)
        except ValueError:
            continue
    return None
