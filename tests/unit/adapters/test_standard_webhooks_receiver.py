"""Delivery events signed with Standard Webhooks: verified with the standardwebhooks library
against our secret, within 5 minutes, each webhook-id once; then our documented event read.

The library checks the timestamp against the system clock too, so these tests sign at the
real time (the receiver's clock is set to it), and keep 30 s away from its limits."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_resend.adapters.memory import InMemorySeenWebhookIds
from export_resend.adapters.standard_webhooks import (
    StandardWebhooksDeliveryEventReceiver,
    check_webhook_secret,
)
from export_resend.adapters.standard_webhooks.receiver import MAX_WEBHOOK_BODY
from export_resend.domain.delivery_events import (
    BounceType,
    DeliveryEvent,
    DeliveryEventType,
    EventIgnored,
    EventNotAuthentic,
    EventProvider,
    IgnoredReason,
    MalformedEvent,
    ReceivedEvents,
)
from export_resend.testing import ManualClock
from export_resend.testing.delivery_events import new_webhook_secret, standard_webhook_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUR_ID = "<5f0c0e7a9b2d4c1e8f3a6b7c9d0e1f2a@exports.example.com>"
ANN = "ann@example.com"


def event_body(
    type: str = "email.bounced",
    *,
    timestamp: str = "2026-01-15T09:30:00Z",
    **data: Any,
) -> bytes:
    fields: dict[str, Any] = {"messageId": OUR_ID, "recipient": ANN}
    if type == "email.bounced":
        fields["bounceType"] = "permanent"
    fields |= data
    return json.dumps(
        {"type": type, "timestamp": timestamp, "data": {k: v for k, v in fields.items() if v}}
    ).encode()


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(datetime.now(UTC))
        self.seen = InMemorySeenWebhookIds()
        self.receiver = StandardWebhooksDeliveryEventReceiver(
            secret=SECRET, seen=self.seen, clock=self.clock
        )

    def signed(
        self,
        body: bytes,
        *,
        secret: str = SECRET,
        at: datetime | None = None,
        webhook_id: str | None = None,
    ) -> dict[str, str]:
        return standard_webhook_headers(secret, body, at or self.clock.now(), webhook_id)

    async def receive(self, body: bytes, headers: dict[str, str] | None = None) -> ReceivedEvents:
        return await self.receiver.receive(headers or self.signed(body), body)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_signed_permanent_bounce_is_read(world: World) -> None:
    body = event_body(diagnostic="smtp; 550 5.1.1 no such user")
    headers = world.signed(body, webhook_id="msg_2b3c")
    received = await world.receive(body, headers)
    assert received == ReceivedEvents(
        EventProvider.STANDARD_WEBHOOKS,
        "msg_2b3c",
        (
            DeliveryEvent(
                provider=EventProvider.STANDARD_WEBHOOKS,
                type=DeliveryEventType.BOUNCED,
                at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
                recipient=ANN,
                message_id=OUR_ID,
                bounce_type=BounceType.PERMANENT,
                diagnostic="smtp; 550 5.1.1 no such user",
            ),
        ),
    )
    assert received.events[0].suppresses


@pytest.mark.parametrize(
    ("type", "data", "expected"),
    [
        ("email.delivered", {}, (DeliveryEventType.DELIVERED, None, False)),
        ("email.complained", {}, (DeliveryEventType.COMPLAINED, None, True)),
        (
            "email.bounced",
            {"bounceType": "transient"},
            (DeliveryEventType.BOUNCED, BounceType.TRANSIENT, False),
        ),
    ],
)
async def test_each_documented_type_is_read(
    world: World, type: str, data: dict[str, str], expected: tuple[Any, ...]
) -> None:
    (event,) = (await world.receive(event_body(type, **data))).events
    assert (event.type, event.bounce_type, event.suppresses) == expected


async def test_the_timestamp_may_have_any_offset_and_is_kept_in_utc(world: World) -> None:
    body = event_body(timestamp="2026-01-15T11:30:00.250+02:00")
    (event,) = (await world.receive(body)).events
    assert event.at == datetime(2026, 1, 15, 9, 30, 0, 250000, tzinfo=UTC)


async def test_the_recipient_is_normalised_as_our_recipients_are(world: World) -> None:
    (event,) = (await world.receive(event_body(recipient="Ann.Smith@EXAMPLE.com"))).events
    assert event.recipient == "Ann.Smith@example.com"


async def test_fields_we_do_not_know_are_ignored(world: World) -> None:
    body = json.loads(event_body())
    body |= {"id": "evt_1", "created_at": "2026-01-15T09:30:00Z"}
    body["data"] |= {"subject": "Your export", "tags": [1, 2]}
    raw = json.dumps(body).encode()
    assert await world.receive(raw)


async def test_a_signature_among_several_is_enough_as_while_rotating_secrets(
    world: World,
) -> None:
    body = event_body()
    headers = world.signed(body)
    old = world.signed(body, secret=new_webhook_secret(), webhook_id=headers["webhook-id"])
    headers["webhook-signature"] = f"{old['webhook-signature']} {headers['webhook-signature']}"
    assert await world.receive(body, headers)


async def test_a_request_signed_with_another_secret_is_refused_without_naming_ours(
    world: World,
) -> None:
    body = event_body()
    with pytest.raises(EventNotAuthentic, match="webhook-signature") as refused:
        await world.receive(body, world.signed(body, secret=new_webhook_secret()))
    assert SECRET not in str(refused.value)
    assert SECRET[6:] not in str(refused.value)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    part=st.sampled_from(["body", "webhook-id", "webhook-timestamp", "webhook-signature"]),
    position=st.integers(0, 10_000),
    replacement=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
)
def test_any_change_to_the_body_or_a_signed_header_is_refused(
    part: str, position: int, replacement: str
) -> None:
    world = World()
    body = event_body(diagnostic="smtp; 550 5.1.1")
    headers = world.signed(body)
    value = body.decode() if part == "body" else headers[part]
    at = position % (len(value) + 1)
    changed = value[:at] + replacement + value[at + 1 :]
    if changed == value:
        changed = value + replacement
    if part == "body":
        body = changed.encode()
    else:
        headers[part] = changed
    with pytest.raises(EventNotAuthentic):
        asyncio.run(world.receive(body, headers))


@pytest.mark.parametrize(
    ("shift", "accepted"),
    [
        (timedelta(minutes=-4, seconds=-30), True),
        (timedelta(minutes=4, seconds=30), True),
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(days=-1), False),
    ],
    ids=["4.5 minutes old", "4.5 minutes ahead", "stale", "ahead", "a day old"],
)
async def test_a_timestamp_outside_five_minutes_is_refused(
    world: World, shift: timedelta, accepted: bool
) -> None:
    body = event_body()
    headers = world.signed(body, at=world.clock.now() + shift)
    if accepted:
        assert await world.receive(body, headers)
        return
    with pytest.raises(EventNotAuthentic, match="webhook-timestamp"):
        await world.receive(body, headers)


async def test_a_replayed_request_is_refused(world: World) -> None:
    body = event_body()
    headers = world.signed(body)
    assert await world.receive(body, headers)
    world.clock.advance(timedelta(seconds=30))
    with pytest.raises(EventNotAuthentic, match="replay"):
        await world.receive(body, headers)


async def test_a_webhook_id_is_refused_again_even_newly_signed_until_released(
    world: World,
) -> None:
    body = event_body()
    first = await world.receive(body, world.signed(body, webhook_id="msg_retry"))
    world.clock.advance(timedelta(seconds=5))
    retry = world.signed(body, webhook_id="msg_retry")
    with pytest.raises(EventNotAuthentic, match="replay"):
        await world.receive(body, retry)
    await world.receiver.release(first)
    assert (await world.receive(body, retry)).notification_id == "msg_retry"


async def test_a_forged_request_does_not_use_up_the_id_of_the_real_one(world: World) -> None:
    body = event_body()
    real = world.signed(body, webhook_id="msg_target")
    forged = real | {"webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    with pytest.raises(EventNotAuthentic, match="signature"):
        await world.receive(body, forged)
    assert await world.receive(body, real)


async def test_replicas_sharing_the_seen_ids_refuse_a_replay_on_any_of_them() -> None:
    first, second = World(), World()
    second.seen = first.seen
    second.receiver = StandardWebhooksDeliveryEventReceiver(
        secret=SECRET, seen=first.seen, clock=second.clock
    )
    body = event_body()
    headers = first.signed(body)
    results = await asyncio.gather(
        first.receive(body, headers), second.receive(body, headers), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["EventNotAuthentic", "ReceivedEvents"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-id", None),
        ("webhook-id", ""),
        ("webhook-id", "msg 1"),
        ("webhook-id", "x" * 257),
        ("webhook-id", "msg_é"),
        ("webhook-timestamp", None),
        ("webhook-timestamp", "1768469400.5"),
        ("webhook-timestamp", "-1"),
        ("webhook-timestamp", "2026-01-15T09:30:00Z"),
        ("webhook-timestamp", "9" * 13),
        ("webhook-signature", None),
        ("webhook-signature", ""),
        ("webhook-signature", "v1," + "A" * 5000),
    ],
)
async def test_a_missing_or_malformed_header_is_refused(
    world: World, header: str, value: str | None
) -> None:
    body = event_body()
    headers = world.signed(body)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    with pytest.raises(EventNotAuthentic, match=header):
        await world.receive(body, headers)
    assert len(world.seen) == 0


async def test_header_names_are_matched_whatever_their_case(world: World) -> None:
    body = event_body()
    headers = {name.title(): value for name, value in world.signed(body).items()}
    assert await world.receive(body, headers)


async def test_a_body_larger_than_our_event_can_be_is_refused_unread(world: World) -> None:
    body = b" " * (MAX_WEBHOOK_BODY + 1)
    with pytest.raises(EventNotAuthentic, match="larger than"):
        await world.receive(body)


@pytest.mark.parametrize("type", ["email.opened", "email.sent", "email.delivery_delayed", "x"])
async def test_a_signed_event_of_a_type_we_do_not_record_is_ignored(
    world: World, type: str
) -> None:
    with pytest.raises(EventIgnored) as ignored:
        await world.receive(event_body(type))
    assert (ignored.value.reason, ignored.value.detail) == (IgnoredReason.NOT_TRACKED, type)


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


_GOOD = json.loads(event_body())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body: not JSON"),
        (b"[]", "body: not a JSON object"),
        (b'{"type": "email.bounced", "type": "email.delivered"}', "twice"),
        (_body({**_GOOD, "type": None}), "type: not an event type"),
        (_body({**_GOOD, "type": "email bounced"}), "type: not an event type"),
        (_body({k: v for k, v in _GOOD.items() if k != "type"}), "type: not an event type"),
        (_body({k: v for k, v in _GOOD.items() if k != "data"}), "data: missing"),
        (_body({k: v for k, v in _GOOD.items() if k != "timestamp"}), "timestamp: missing"),
        (_body({**_GOOD, "timestamp": "2026-01-15T09:30:00"}), "timestamp: timezone_aware"),
        (_body({**_GOOD, "timestamp": 1768469400}), "timestamp"),
        (_body({**_GOOD, "timestamp": "yesterday"}), "timestamp: datetime_parsing"),
        (event_body(messageId="5f0c@exports.example.com"), "data.messageId: not a Message-ID"),
        (event_body(messageId=["<a@b>"]), "data.messageId: string_type"),
        (event_body(recipient="Ann <ann@example.com>"), "data.recipient: email_address"),
        (event_body(recipient="ann@"), "data.recipient: email_address"),
        (event_body(bounceType="undetermined"), "data.bounceType: literal_error"),
        (event_body(bounceType="Permanent"), "data.bounceType: literal_error"),
        (event_body(bounceType=""), "bounceType is required on email.bounced"),
        (event_body("email.delivered", bounceType="permanent"), "bounceType is required"),
        (event_body(diagnostic=550), "data.diagnostic: string_type"),
        (event_body(timestamp="2099-01-01T00:00:00Z"), "timestamp: after the webhook-timestamp"),
    ],
)
async def test_a_well_signed_body_that_cannot_be_read_is_malformed_naming_no_value(
    world: World, body: bytes, field: str
) -> None:
    with pytest.raises(MalformedEvent) as malformed:
        await world.receive(body)
    assert field in malformed.value.reason
    assert "ann@" not in str(malformed.value)


async def test_a_diagnostic_is_kept_printable_and_bounded(world: World) -> None:
    body = event_body(diagnostic="550\r\n5.1.1 \x1b[0m" + "y" * 1000)
    (event,) = (await world.receive(body)).events
    assert event.diagnostic is not None
    assert event.diagnostic.startswith("550  5.1.1  [0m")
    assert len(event.diagnostic) == 500


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_",
        "whsec_c2hvcnQ=",
        "whsec_not base64 at all!!",
        "whsec_" + "A" * 100,
    ],
    ids=["no prefix", "empty", "too short", "not base64", "too long"],
)
def test_a_secret_not_in_the_whsec_form_is_refused_without_quoting_it(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_ followed by the base64") as refused:
        check_webhook_secret(secret)
    if key := secret.removeprefix("whsec_"):
        assert key not in str(refused.value)
    with pytest.raises(ValueError, match="whsec_"):
        StandardWebhooksDeliveryEventReceiver(
            secret=secret, seen=InMemorySeenWebhookIds(), clock=ManualClock()
        )


@pytest.mark.parametrize("secret", [SECRET, SECRET.rstrip("="), new_webhook_secret()])
def test_a_secret_in_the_whsec_form_is_accepted(secret: str) -> None:
    assert check_webhook_secret(secret) == secret
