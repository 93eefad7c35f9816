"""A delivery event: what a provider says happened to one recipient of one message."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.domain.delivery_events import (
    MAX_DIAGNOSTIC,
    BounceType,
    DeliveryEvent,
    DeliveryEventType,
    EventIgnored,
    EventProvider,
    IgnoredReason,
    ReceivedEvents,
    check_message_id,
    check_provider_message_id,
)

AT = datetime(2026, 1, 15, 9, 31, tzinfo=UTC)
OUR_ID = "<5f0c0e7a9b2d4c1e8f3a6b7c9d0e1f2a@exports.example.com>"


def event(
    type: DeliveryEventType = DeliveryEventType.BOUNCED,
    bounce_type: BounceType | None = BounceType.PERMANENT,
    **changes: object,
) -> DeliveryEvent:
    base = DeliveryEvent(
        provider=EventProvider.STANDARD_WEBHOOKS,
        type=DeliveryEventType.BOUNCED,
        at=AT,
        recipient="ann@example.com",
        message_id=OUR_ID,
        bounce_type=BounceType.PERMANENT,
    )
    return dataclasses.replace(base, type=type, bounce_type=bounce_type, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("type", "bounce_type", "suppresses"),
    [
        (DeliveryEventType.COMPLAINED, None, True),
        (DeliveryEventType.BOUNCED, BounceType.PERMANENT, True),
        (DeliveryEventType.BOUNCED, BounceType.TRANSIENT, False),
        (DeliveryEventType.BOUNCED, BounceType.UNDETERMINED, False),
        (DeliveryEventType.DELIVERED, None, False),
    ],
)
def test_only_a_complaint_or_a_permanent_bounce_suppresses_the_address(
    type: DeliveryEventType, bounce_type: BounceType | None, suppresses: bool
) -> None:
    assert event(type, bounce_type).suppresses is suppresses


@pytest.mark.parametrize(
    ("type", "bounce_type"),
    [
        (DeliveryEventType.BOUNCED, None),
        (DeliveryEventType.DELIVERED, BounceType.PERMANENT),
        (DeliveryEventType.COMPLAINED, BounceType.TRANSIENT),
    ],
)
def test_a_bounce_type_is_given_for_bounces_and_only_for_them(
    type: DeliveryEventType, bounce_type: BounceType | None
) -> None:
    with pytest.raises(ValueError, match="bounce_type"):
        event(type, bounce_type)


@pytest.mark.parametrize(
    "at",
    [AT.replace(tzinfo=None), AT.astimezone(timezone(timedelta(hours=2)))],
    ids=["naive", "not UTC"],
)
def test_the_moment_is_aware_utc(at: datetime) -> None:
    with pytest.raises(ValueError, match="UTC"):
        event(at=at)


@pytest.mark.parametrize(
    "recipient", ["Ann <ann@example.com>", "ann@example.com\r\nBcc: x@y", "ann", "a b@example.com"]
)
def test_the_recipient_is_a_bare_address(recipient: str) -> None:
    with pytest.raises(ValueError, match="bare"):
        event(recipient=recipient)


def test_an_event_names_its_message_by_our_id_or_the_providers_or_both() -> None:
    assert event(message_id=None, provider_message_id="0100019a-000000").message_id is None
    assert event(provider_message_id="0100019a-000000").provider_message_id == "0100019a-000000"
    with pytest.raises(ValueError, match="names its message"):
        event(message_id=None, provider_message_id=None)


def test_the_diagnostic_is_printable_and_bounded() -> None:
    noisy = "550\r\n5.1.1\x00 user \x1b[31munknown" + "x" * 1000
    diagnostic = event(diagnostic=noisy).diagnostic
    assert diagnostic is not None
    assert diagnostic.startswith("550  5.1.1  user  [31munknown")
    assert len(diagnostic) == MAX_DIAGNOSTIC
    assert diagnostic.isprintable()


@pytest.mark.parametrize(
    "value",
    [
        OUR_ID,
        "<a@b>",
        "<0100019a2b3c4d5e-1f2e3d4c@eu-west-1.amazonses.com>",
        "<CAF=+_x!#$%&'*/?^`{|}~@mail.example.com>",
    ],
)
def test_a_message_id_is_left_at_right_in_angle_brackets(value: str) -> None:
    assert check_message_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "5f0c@exports.example.com",
        "<5f0c>",
        "<@exports.example.com>",
        "<5f0c@>",
        "<a@b@c>",
        "<a b@c>",
        "<a@b>\r\n",
        "<a\x00@b>",
        "<<a@b>>",
        "<é@b>",
        "<" + "a" * 992 + "@b.com>",
        "",
    ],
)
def test_anything_else_is_not_a_message_id(value: str) -> None:
    with pytest.raises(ValueError, match="Message-ID"):
        check_message_id(value)


@given(st.text(max_size=40))
def test_a_message_id_accepted_is_one_header_safe_token(value: str) -> None:
    try:
        check_message_id(value)
    except ValueError:
        return
    inner = value[1:-1]
    assert (value[0], value[-1]) == ("<", ">")
    assert inner.count("@") == 1
    assert all(" " < c < "\x7f" and c not in "<>" for c in inner)


@pytest.mark.parametrize("value", ["", "a b", "a\nb", "é", "x" * 257])
def test_a_provider_message_id_is_visible_ascii(value: str) -> None:
    with pytest.raises(ValueError, match="provider message id"):
        check_provider_message_id(value)


def test_a_notification_received_reports_at_least_one_event() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ReceivedEvents(EventProvider.SES, "m-1", ())
    assert ReceivedEvents(EventProvider.SES, "m-1", (event(),)).events == (event(),)


def test_an_ignored_notification_says_why_in_a_few_safe_characters() -> None:
    ignored = EventIgnored(IgnoredReason.NOT_TRACKED, "email.opened\r\n" + "x" * 100)
    assert ignored.reason is IgnoredReason.NOT_TRACKED
    assert ignored.detail == "email.opened  " + "x" * 50
    assert str(ignored).startswith("delivery event ignored: NOT_TRACKED email.opened")
