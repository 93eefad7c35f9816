"""An SES event (the ``Message`` of an SNS notification) read into delivery events: both of
SES's formats, each type, each bounce type, several recipients."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from export_resend.adapters.ses.events import ses_events
from export_resend.domain.delivery_events import (
    BounceType,
    DeliveryEvent,
    DeliveryEventType,
    EventIgnored,
    EventProvider,
    IgnoredReason,
    MalformedEvent,
)
from tests.ses_samples import (
    OUR_ID,
    SES_ID,
    as_message,
    bounce,
    complaint,
    delivery,
    other_event,
    published,
)

AT = datetime(2026, 1, 15, 9, 30, 5, 123000, tzinfo=UTC)
PUBLISHED = AT + timedelta(seconds=1)
SKEW = timedelta(minutes=5)
ANN = "ann@example.com"
BOB = "bob@example.org"

FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "notification": lambda event: event,
    "event publishing": published,
}


def read(event: dict[str, Any], *, published_at: datetime = PUBLISHED) -> tuple[DeliveryEvent, ...]:
    return ses_events(as_message(event), published_at, SKEW)


@pytest.fixture(params=list(FORMATS.values()), ids=list(FORMATS))
def fmt(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return request.param  # type: ignore[no-any-return]


def test_a_permanent_bounce_names_the_recipient_both_message_ids_and_the_smtp_reason(
    fmt: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    (event,) = read(fmt(bounce([ANN], AT)))
    assert event == DeliveryEvent(
        provider=EventProvider.SES,
        type=DeliveryEventType.BOUNCED,
        at=AT,
        recipient=ANN,
        message_id=OUR_ID,
        provider_message_id=SES_ID,
        bounce_type=BounceType.PERMANENT,
        diagnostic=f"General: smtp; 550 5.1.1 <{ANN}>... User unknown",
    )
    assert event.suppresses


@pytest.mark.parametrize(
    ("ses_type", "sub_type", "bounce_type"),
    [
        ("Transient", "MailboxFull", BounceType.TRANSIENT),
        ("Transient", "General", BounceType.TRANSIENT),
        ("Undetermined", "Undetermined", BounceType.UNDETERMINED),
        ("Permanent", "Suppressed", BounceType.PERMANENT),
        ("Permanent", "OnAccountSuppressionList", BounceType.PERMANENT),
    ],
)
def test_each_bounce_type_of_ses_is_kept_and_only_permanent_suppresses(
    fmt: Callable[[dict[str, Any]], dict[str, Any]],
    ses_type: str,
    sub_type: str,
    bounce_type: BounceType,
) -> None:
    (event,) = read(fmt(bounce([ANN], AT, bounce_type=ses_type, sub_type=sub_type)))
    assert event.bounce_type is bounce_type
    assert event.suppresses is (bounce_type is BounceType.PERMANENT)
    assert event.diagnostic is not None
    assert event.diagnostic.startswith(sub_type)


def test_a_bounce_of_several_recipients_is_one_event_each_in_order(
    fmt: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    carol = "carol@example.net"
    events = read(fmt(bounce([ANN, BOB, carol], AT, destination=[ANN, BOB, carol, "dan@x.io"])))
    assert [e.recipient for e in events] == [ANN, BOB, carol]
    assert {(e.type, e.message_id, e.provider_message_id, e.at) for e in events} == {
        (DeliveryEventType.BOUNCED, OUR_ID, SES_ID, AT)
    }


def test_a_recipient_listed_twice_is_one_event() -> None:
    events = read(bounce([ANN, "Ann@Example.com", BOB], AT))
    assert [e.recipient for e in events] == [ANN, BOB]


def test_a_recipient_is_normalised_as_our_recipients_are() -> None:
    (event,) = read(delivery(["Ann.Smith@EXAMPLE.COM"], AT))
    assert event.recipient == "Ann.Smith@example.com"


def test_a_complaint_suppresses_and_says_its_feedback_type(
    fmt: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    (event,) = read(fmt(complaint([BOB], AT)))
    assert (event.type, event.recipient, event.diagnostic) == (
        DeliveryEventType.COMPLAINED,
        BOB,
        "abuse",
    )
    assert event.bounce_type is None
    assert event.suppresses


def test_a_complaint_without_a_feedback_report_is_still_a_complaint() -> None:
    (event,) = read(complaint([BOB], AT, feedback_type=None))
    assert (event.type, event.diagnostic) == (DeliveryEventType.COMPLAINED, None)


def test_a_feedback_report_saying_not_spam_is_ignored() -> None:
    with pytest.raises(EventIgnored) as ignored:
        read(complaint([BOB], AT, feedback_type="not-spam"))
    assert ignored.value.reason is IgnoredReason.NOT_A_COMPLAINT


def test_a_delivery_to_several_recipients_is_one_event_each_with_the_smtp_answer(
    fmt: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    events = read(fmt(delivery([ANN, BOB], AT)))
    assert [(e.type, e.recipient) for e in events] == [
        (DeliveryEventType.DELIVERED, ANN),
        (DeliveryEventType.DELIVERED, BOB),
    ]
    assert {e.diagnostic for e in events} == {"250 2.6.0 Message received"}
    assert not any(e.suppresses for e in events)


def test_without_the_original_headers_only_the_ses_id_names_the_message() -> None:
    (event,) = read(bounce([ANN], AT, original_headers=False))
    assert (event.message_id, event.provider_message_id) == (None, SES_ID)


def test_our_message_id_is_read_from_the_common_headers_when_the_raw_ones_lack_it() -> None:
    notification = bounce([ANN], AT)
    notification["mail"]["headers"] = []
    (event,) = read(notification)
    assert event.message_id == OUR_ID


@pytest.mark.parametrize(
    ("written", "read_as"),
    [
        ("  <abc@exports.example.com>  ", "<abc@exports.example.com>"),
        ("abc@exports.example.com", "<abc@exports.example.com>"),
        (SES_ID, None),
        ("<not an id>", None),
        ("", None),
    ],
)
def test_a_message_id_header_is_taken_only_in_the_shape_we_write(
    written: str, read_as: str | None
) -> None:
    notification = bounce([ANN], AT)
    notification["mail"]["headers"] = [{"name": "message-id", "value": written}]
    notification["mail"]["commonHeaders"]["messageId"] = written
    (event,) = read(notification)
    assert event.message_id == read_as


@pytest.mark.parametrize(
    "event_type",
    [
        "Send",
        "Reject",
        "Open",
        "Click",
        "DeliveryDelay",
        "Rendering Failure",
        "Subscription",
    ],
)
def test_event_types_we_do_not_record_are_ignored_by_name(event_type: str) -> None:
    with pytest.raises(EventIgnored) as ignored:
        read(other_event(event_type, [ANN], AT))
    assert ignored.value.reason is IgnoredReason.NOT_TRACKED
    assert ignored.value.detail == f"SES {event_type}"


def test_the_test_message_ses_sends_when_a_topic_is_set_is_ignored() -> None:
    message = {
        "notificationType": "AmazonSnsSubscriptionSucceeded",
        "message": "You have successfully subscribed your Amazon SNS topic to receive"
        " 'Bounce' notifications from Amazon SES.",
    }
    with pytest.raises(EventIgnored, match="AmazonSnsSubscriptionSucceeded"):
        read(message)


def test_fields_ses_adds_some_day_are_ignored() -> None:
    notification = bounce([ANN], AT)
    notification["newTopLevel"] = {"x": 1}
    notification["bounce"]["bouncedRecipients"][0]["newField"] = [1, 2]
    notification["mail"]["newMailField"] = None
    assert len(read(notification)) == 1


def _without(path: str) -> dict[str, Any]:
    notification = bounce([ANN], AT)
    *parents, last = path.split(".")
    node: Any = notification
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[int(last) if last.isdigit() else last]
    return notification


def _with(path: str, value: Any) -> dict[str, Any]:
    notification = bounce([ANN], AT)
    *parents, last = path.split(".")
    node: Any = notification
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return notification


@pytest.mark.parametrize(
    ("notification", "field"),
    [
        (_without("mail"), "Message.mail: missing"),
        (_without("bounce"), "Message.bounce: missing"),
        (_without("mail.messageId"), "Message.mail.messageId: missing"),
        (_without("bounce.bounceType"), "Message.bounce.bounceType: missing"),
        (_without("bounce.timestamp"), "Message.bounce.timestamp: missing"),
        (_with("bounce.bouncedRecipients", []), "Message.bounce.bouncedRecipients: too_short"),
        (_with("bounce.bounceType", "Soft"), "Message.bounce.bounceType: literal_error"),
        (_with("bounce.timestamp", "2026-01-15T09:30:05"), "Message.bounce.timestamp"),
        (_with("bounce.timestamp", 1768469405), "Message.bounce.timestamp"),
        (
            _with("bounce.bouncedRecipients.0.emailAddress", "Ann <ann@example.com>"),
            "Message.bounce.bouncedRecipients[0].emailAddress: email_address",
        ),
        (
            _with("bounce.bouncedRecipients.0.emailAddress", 42),
            "Message.bounce.bouncedRecipients[0].emailAddress: string_type",
        ),
        (_with("mail.messageId", "not an id"), "Message.mail.messageId: not an SES message id"),
        (_with("notificationType", 7), "neither eventType nor notificationType"),
        (_without("notificationType"), "neither eventType nor notificationType"),
    ],
)
def test_a_message_that_cannot_be_read_is_malformed_naming_the_field_never_its_value(
    notification: dict[str, Any], field: str
) -> None:
    with pytest.raises(MalformedEvent) as malformed:
        read(notification)
    assert field in malformed.value.reason
    assert "ann@" not in str(malformed.value)


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[]",
        '"Bounce"',
        '{"notificationType": "Bounce", "notificationType": "Delivery"}',
    ],
)
def test_a_message_that_is_not_one_json_object_is_malformed(message: str) -> None:
    with pytest.raises(MalformedEvent, match="Message: "):
        ses_events(message, PUBLISHED, SKEW)


def test_an_event_dated_after_sns_published_it_is_malformed() -> None:
    late = bounce([ANN], PUBLISHED + SKEW + timedelta(seconds=1))
    with pytest.raises(MalformedEvent, match="after SNS published it"):
        read(late)
    assert read(bounce([ANN], PUBLISHED + SKEW))


def test_a_list_of_recipients_longer_than_ses_sends_is_malformed() -> None:
    many = [f"r{n}@example.com" for n in range(101)]
    with pytest.raises(MalformedEvent, match="too_long"):
        read(delivery(many, AT))
    assert len(read(delivery(many[:100], AT))) == 100


def test_a_long_or_noisy_diagnostic_is_kept_printable_and_bounded() -> None:
    notification = bounce([ANN], AT)
    notification["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = (
        "smtp; 550-5.1.1 The email account that you tried to reach does not exist.\n550 "
        + "x" * 2000
    )
    (event,) = read(notification)
    assert event.diagnostic is not None
    assert len(event.diagnostic) == 500
    assert event.diagnostic.isprintable()


def test_a_real_message_from_the_ses_guide_is_read() -> None:
    message = json.dumps(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "reportingMTA": "dns; email.example.com",
                "bouncedRecipients": [
                    {
                        "emailAddress": "jane@example.com",
                        "status": "5.1.1",
                        "action": "failed",
                        "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User",
                    }
                ],
                "bounceSubType": "General",
                "timestamp": "2016-01-27T14:59:38.237Z",
                "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
                "remoteMtaIp": "127.0.2.0",
            },
            "mail": {
                "timestamp": "2016-01-27T14:59:38.237Z",
                "source": "john@example.com",
                "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
                "sourceIp": "127.0.3.0",
                "sendingAccountId": "123456789012",
                "callerIdentity": "IAM_user_or_role_name",
                "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
                "destination": ["jane@example.com", "mary@example.com", "richard@example.com"],
                "headersTruncated": False,
                "headers": [
                    {"name": "From", "value": '"John Doe" <john@example.com>'},
                    {"name": "To", "value": '"Jane Doe" <jane@example.com>'},
                    {"name": "Message-ID", "value": "custom-message-ID"},
                    {"name": "Subject", "value": "Hello"},
                ],
                "commonHeaders": {
                    "from": ['"John Doe" <john@example.com>'],
                    "date": "Wed, 27 Jan 2016 14:05:45 +0000",
                    "to": ['"Jane Doe" <jane@example.com>'],
                    "messageId": "custom-message-ID",
                    "subject": "Hello",
                },
            },
        }
    )
    published_at = datetime(2016, 1, 27, 14, 59, 39, tzinfo=UTC)
    (event,) = ses_events(message, published_at, SKEW)
    assert (event.recipient, event.bounce_type, event.message_id) == (
        "jane@example.com",
        BounceType.PERMANENT,
        None,
    )
    assert (
        event.provider_message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
    )
