"""SES events through SNS: nothing is believed before the SNS signature is verified with a
certificate from an SNS host, for an allowed topic, at a recent time; subscriptions of
allowed topics only are confirmed, at SNS only."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_resend.adapters.memory import InMemoryCertificateFetcher, InMemorySubscriptionConfirmer
from export_resend.adapters.ses import SesDeliveryEventReceiver
from export_resend.adapters.ses.receiver import MAX_SNS_BODY
from export_resend.domain.delivery_events import (
    BounceType,
    DeliveryEventType,
    EventIgnored,
    EventNotAuthentic,
    EventProvider,
    IgnoredReason,
    MalformedEvent,
    ProviderUnavailable,
    ReceivedEvents,
)
from export_resend.testing import ManualClock
from export_resend.testing.delivery_events import SnsSigner, self_signed_certificate, sns_timestamp
from tests.ses_samples import OUR_ID, SES_ID, as_message, bounce, delivery, other_event, published

NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"
OTHER_TOPIC = "arn:aws:sns:eu-west-1:999999999999:someone-elses"
ANN = "ann@example.com"
BOB = "bob@example.org"


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner(region="eu-west-1")


class World:
    """A receiver with the signer's certificate served, and what it asked for."""

    def __init__(self, signer: SnsSigner, *, topics: tuple[str, ...] = (TOPIC,)) -> None:
        self.signer = signer
        self.clock = ManualClock(NOW)
        self.certificates = signer.fetcher()
        self.confirmer = InMemorySubscriptionConfirmer()
        self.receiver = SesDeliveryEventReceiver(
            topic_arns=topics,
            certificates=self.certificates,
            confirmer=self.confirmer,
            clock=self.clock,
        )

    def notification(self, event: dict[str, Any], **options: Any) -> dict[str, str]:
        options.setdefault("topic_arn", TOPIC)
        options.setdefault("timestamp", self.clock.now())
        return self.signer.notification(as_message(event), **options)

    async def receive(self, message: dict[str, Any]) -> ReceivedEvents:
        return await self.receiver.receive({}, SnsSigner.body(message))


@pytest.fixture
def world(signer: SnsSigner) -> World:
    return World(signer)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_bounce_signed_with_either_signature_version_is_read(
    world: World, version: str
) -> None:
    message = world.notification(bounce([ANN], NOW - timedelta(seconds=3)), version=version)
    received = await world.receive(message)
    assert received.provider is EventProvider.SES
    assert received.notification_id == message["MessageId"]
    (event,) = received.events
    assert (event.type, event.bounce_type, event.recipient) == (
        DeliveryEventType.BOUNCED,
        BounceType.PERMANENT,
        ANN,
    )
    assert (event.message_id, event.provider_message_id) == (OUR_ID, SES_ID)


async def test_event_publishing_with_several_recipients_is_one_event_each(world: World) -> None:
    message = world.notification(published(delivery([ANN, BOB], NOW - timedelta(seconds=3))))
    received = await world.receive(message)
    assert [(e.type, e.recipient) for e in received.events] == [
        (DeliveryEventType.DELIVERED, ANN),
        (DeliveryEventType.DELIVERED, BOB),
    ]


@pytest.mark.parametrize("subject", ["Amazon SES Email Event Notification", ""])
async def test_a_subject_is_part_of_what_is_signed(world: World, subject: str) -> None:
    message = world.notification(bounce([ANN], NOW), subject=subject)
    assert await world.receive(message)
    with pytest.raises(EventNotAuthentic, match="signature does not match"):
        await world.receive({**message, "Subject": subject + "!"})
    without = {k: v for k, v in message.items() if k != "Subject"}
    with pytest.raises(EventNotAuthentic, match="signature does not match"):
        await world.receive(without)


async def test_a_null_subject_is_no_subject(world: World) -> None:
    message = world.notification(bounce([ANN], NOW))
    body = json.dumps({**message, "Subject": None}).encode()
    assert await world.receiver.receive({}, body)


SIGNED = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from([*SIGNED, "Signature", "SignatureVersion"]),
    position=st.integers(0, 10_000),
    replacement=st.characters(codec="utf-8"),
)
def test_any_change_to_a_signed_field_or_the_signature_is_refused(
    signer: SnsSigner, field: str, position: int, replacement: str
) -> None:
    world = World(signer, topics=(TOPIC, OTHER_TOPIC))
    message = world.notification(bounce([ANN], NOW), subject="Bounce")
    value = message[field]
    at = position % (len(value) + 1)
    changed = value[:at] + replacement + value[at + 1 :]
    if changed == value:
        changed = value + replacement
    with pytest.raises(EventNotAuthentic):
        asyncio.run(world.receive({**message, field: changed}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("TopicArn", OTHER_TOPIC),
        ("Timestamp", sns_timestamp(NOW - timedelta(seconds=1))),
        ("Type", "SubscriptionConfirmation"),
        ("MessageId", "00000000-0000-0000-0000-000000000000"),
        ("SignatureVersion", "1"),
    ],
)
async def test_a_plausible_change_of_a_signed_field_is_refused(
    signer: SnsSigner, field: str, value: str
) -> None:
    world = World(signer, topics=(TOPIC, OTHER_TOPIC))
    message = world.notification(bounce([ANN], NOW))
    if field == "Type":
        message |= {"SubscribeURL": "https://sns.eu-west-1.amazonaws.com/", "Token": "t"}
    with pytest.raises(EventNotAuthentic):
        await world.receive({**message, field: value})


async def test_a_message_signed_by_another_key_is_refused(world: World) -> None:
    impostor = SnsSigner(region="eu-west-1")
    message = impostor.notification(as_message(bounce([ANN], NOW)), TOPIC, NOW)
    message["SigningCertURL"] = world.signer.certificate_url
    with pytest.raises(EventNotAuthentic, match="signature does not match"):
        await world.receive(message)


class EveryUrl(InMemoryCertificateFetcher):
    """Would serve the certificate at any URL at all: the receiver must not ask."""

    def __init__(self, pem: bytes) -> None:
        super().__init__()
        self.pem = pem

    async def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem


PEM_PATH = "/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.eu-west-1.amazonaws.com{PEM_PATH}",
        f"https://sns.eu-west-1.amazonaws.com.evil.com{PEM_PATH}",
        f"https://evilamazonaws.com{PEM_PATH}",
        f"https://sns.eu-west-1.amazonaws.com.{PEM_PATH}",
        f"https://sns.eu-west-1.amazonaws.com:8443{PEM_PATH}",
        f"https://attacker@sns.eu-west-1.amazonaws.com{PEM_PATH}",
        f"https://sns.eu-west-1.amazonaws.com@evil.com{PEM_PATH}",
        f"https://s3.eu-west-1.amazonaws.com{PEM_PATH}",
        f"https://evil.com{PEM_PATH}",
        "https://sns.eu-west-1.amazonaws.com/uploads/evil.pem",
        f"https://sns.eu-west-1.amazonaws.com{PEM_PATH}?redirect=https://evil.com",
    ],
)
async def test_a_certificate_off_the_sns_hosts_is_never_fetched(
    signer: SnsSigner, url: str
) -> None:
    world = World(signer)
    fetcher = EveryUrl(signer.certificate)
    world.receiver = SesDeliveryEventReceiver(
        topic_arns=[TOPIC], certificates=fetcher, confirmer=world.confirmer, clock=world.clock
    )
    message = world.notification(bounce([ANN], NOW)) | {"SigningCertURL": url}
    with pytest.raises(EventNotAuthentic, match="SigningCertURL"):
        await world.receive(message)
    assert fetcher.fetched == []


async def test_a_topic_not_allowed_is_refused_before_any_request(world: World) -> None:
    message = world.notification(bounce([ANN], NOW), topic_arn=OTHER_TOPIC)
    with pytest.raises(EventNotAuthentic, match="EXPORT_RESEND_SES_TOPIC_ARNS"):
        await world.receive(message)
    assert world.certificates.fetched == []


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (timedelta(hours=1, minutes=5), True),
        (timedelta(hours=1, minutes=5, milliseconds=1), False),
        (timedelta(days=3), False),
        (timedelta(minutes=-5), True),
        (timedelta(minutes=-5, milliseconds=-1), False),
    ],
    ids=["an hour old, plus the skew", "older", "days old", "5 minutes ahead", "further ahead"],
)
async def test_a_message_older_than_an_hour_or_from_the_future_is_refused_before_any_request(
    world: World, age: timedelta, accepted: bool
) -> None:
    message = world.notification(bounce([ANN], NOW - age), timestamp=NOW - age)
    if accepted:
        assert await world.receive(message)
        return
    with pytest.raises(EventNotAuthentic, match="Timestamp"):
        await world.receive(message)
    assert world.certificates.fetched == []


@pytest.mark.parametrize("timestamp", ["2026-01-15T09:30:00", "yesterday", "1768469400"])
async def test_a_timestamp_that_is_not_an_aware_iso_time_is_refused(
    world: World, timestamp: str
) -> None:
    message = world.signer.sign(world.notification(bounce([ANN], NOW)) | {"Timestamp": timestamp})
    with pytest.raises(EventNotAuthentic, match="Timestamp"):
        await world.receive(message)


async def test_a_certificate_is_fetched_once_and_kept(world: World) -> None:
    for _ in range(3):
        await world.receive(world.notification(bounce([ANN], NOW)))
    assert world.certificates.fetched == [world.signer.certificate_url]


async def test_concurrent_messages_fetch_a_new_certificate_once(world: World) -> None:
    messages = [world.notification(bounce([ANN], NOW)) for _ in range(10)]
    await asyncio.gather(*(world.receive(m) for m in messages))
    assert world.certificates.fetched == [world.signer.certificate_url]


async def test_the_certificates_kept_are_bounded_the_least_recently_used_going_first() -> None:
    signers = [SnsSigner(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))]
    signers += [SnsSigner(key=signers[0].key, certificate=signers[0].certificate) for _ in range(2)]
    fetcher = InMemoryCertificateFetcher({s.certificate_url: s.certificate for s in signers})
    clock = ManualClock(NOW)
    receiver = SesDeliveryEventReceiver(
        topic_arns=[TOPIC],
        certificates=fetcher,
        confirmer=InMemorySubscriptionConfirmer(),
        clock=clock,
        certificate_capacity=2,
    )
    a, b, c = signers

    async def receive(s: SnsSigner) -> None:
        await receiver.receive(
            {}, s.body(s.notification(as_message(bounce([ANN], NOW)), TOPIC, NOW))
        )

    for s in (a, b, a, c, a, b):
        await receive(s)
    urls = [s.certificate_url for s in (a, b, c, b)]
    assert fetcher.fetched == urls


async def test_a_certificate_that_cannot_be_had_is_provider_unavailable_and_not_kept(
    world: World,
) -> None:
    served = world.certificates.certificates
    world.certificates.certificates = {}
    message = world.notification(bounce([ANN], NOW))
    with pytest.raises(ProviderUnavailable):
        await world.receive(message)
    world.certificates.certificates = dict.fromkeys(served, b"<html>503</html>")
    with pytest.raises(ProviderUnavailable, match="PEM"):
        await world.receive(message)
    world.certificates.certificates = served
    assert await world.receive(message)


def _signer_with(**certificate: Any) -> SnsSigner:
    key = certificate.pop("key", None) or rsa.generate_private_key(
        public_exponent=65537, key_size=2048
    )
    return SnsSigner(key=key, certificate=self_signed_certificate(key, **certificate))


@pytest.mark.parametrize(
    "signer_of",
    [
        lambda: _signer_with(not_after=NOW - timedelta(seconds=1)),
        lambda: _signer_with(not_before=NOW + timedelta(seconds=1)),
    ],
    ids=["expired", "not yet valid"],
)
async def test_a_certificate_not_valid_now_is_refused(signer_of: Any) -> None:
    world = World(signer_of())
    with pytest.raises(EventNotAuthentic, match="not valid now"):
        await world.receive(world.notification(bounce([ANN], NOW)))


async def test_a_certificate_with_a_weak_or_non_rsa_key_is_refused() -> None:
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (on purpose)
    weak = _signer_with(key=weak_key)
    world = World(weak)
    with pytest.raises(EventNotAuthentic, match="RSA key of 2048"):
        await world.receive(world.notification(bounce([ANN], NOW)))
    elliptic = ec.generate_private_key(ec.SECP256R1())
    ec_certificate = self_signed_certificate(elliptic)  # type: ignore[arg-type]
    world = World(SnsSigner(key=world.signer.key, certificate=ec_certificate))
    with pytest.raises(EventNotAuthentic, match="RSA key of 2048"):
        await world.receive(world.notification(bounce([ANN], NOW)))


async def test_a_subscription_of_an_allowed_topic_is_confirmed_at_its_subscribe_url(
    world: World,
) -> None:
    message = world.signer.confirmation(TOPIC, NOW)
    with pytest.raises(EventIgnored) as ignored:
        await world.receive(message)
    assert ignored.value.reason is IgnoredReason.SUBSCRIPTION_CONFIRMED
    assert world.confirmer.confirmed == [message["SubscribeURL"]]


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_subscription_of_another_topic_is_refused_and_never_confirmed(
    world: World, version: str
) -> None:
    message = world.signer.confirmation(OTHER_TOPIC, NOW, version=version)
    with pytest.raises(EventNotAuthentic, match="EXPORT_RESEND_SES_TOPIC_ARNS"):
        await world.receive(message)
    assert world.confirmer.confirmed == []


@pytest.mark.parametrize(
    "subscribe_url",
    [
        "https://evil.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
        "https://sns.eu-west-1.amazonaws.com.evil.com/?Action=ConfirmSubscription"
        "&TopicArn={topic}&Token={token}",
        "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}"
        "&Token={token}",
        "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&TopicArn={topic}&Token={token}",
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        "&TopicArn=arn:aws:sns:eu-west-1:999999999999:x&Token={token}",
    ],
)
async def test_a_signed_subscribe_url_that_confirms_anything_else_is_malformed_and_not_visited(
    world: World, subscribe_url: str
) -> None:
    unsigned = world.signer.confirmation(TOPIC, NOW)
    url = subscribe_url.format(topic=TOPIC, token=unsigned["Token"])
    message = world.signer.confirmation(TOPIC, NOW, subscribe_url=url)
    message = world.signer.sign({**message, "Token": unsigned["Token"]})
    with pytest.raises(MalformedEvent, match="SubscribeURL"):
        await world.receive(message)
    assert world.confirmer.confirmed == []


async def test_a_confirmation_sns_does_not_answer_is_provider_unavailable(world: World) -> None:
    world.confirmer.unavailable = True
    with pytest.raises(ProviderUnavailable):
        await world.receive(world.signer.confirmation(TOPIC, NOW))


async def test_an_unsubscribe_confirmation_is_ignored_and_nothing_is_visited(world: World) -> None:
    message = world.signer.confirmation(TOPIC, NOW, kind="UnsubscribeConfirmation")
    with pytest.raises(EventIgnored) as ignored:
        await world.receive(message)
    assert ignored.value.reason is IgnoredReason.UNSUBSCRIBED
    assert world.confirmer.confirmed == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        json.dumps(bounce([ANN], NOW)).encode(),  # raw message delivery: no signature
        json.dumps({"Type": "Notification"}).encode(),
        json.dumps({"Type": "Notice", "Message": "x"}).encode(),
        b'{"Type": "Notification", "Type": "Notification"}',
        b"\xff\xfe{}",
    ],
    ids=["empty", "not json", "array", "raw delivery", "fields missing", "type", "dup", "utf-16"],
)
async def test_a_body_that_is_not_a_signed_sns_message_is_refused(
    world: World, body: bytes
) -> None:
    with pytest.raises(EventNotAuthentic):
        await world.receiver.receive({}, body)
    assert world.certificates.fetched == []


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("SignatureVersion", "3", "SignatureVersion"),
        ("Signature", "not base64!", "base64"),
        ("Signature", "", "signature does not match"),
        ("Message", 42, "not strings: Message"),
        ("MessageId", "a b", "MessageId"),
    ],
)
async def test_envelope_fields_of_the_wrong_shape_are_refused(
    world: World, field: str, value: Any, match: str
) -> None:
    message: dict[str, Any] = world.notification(bounce([ANN], NOW))
    message[field] = value
    with pytest.raises(EventNotAuthentic, match=match):
        await world.receive(message)


async def test_a_body_larger_than_sns_sends_is_refused_unread(world: World) -> None:
    with pytest.raises(EventNotAuthentic, match="larger than"):
        await world.receiver.receive({}, b" " * (MAX_SNS_BODY + 1))


async def test_a_signed_message_that_cannot_be_read_is_malformed(world: World) -> None:
    message = world.signer.notification("not an SES event", TOPIC, NOW)
    with pytest.raises(MalformedEvent, match="Message"):
        await world.receive(message)


async def test_a_signed_event_we_do_not_record_is_ignored(world: World) -> None:
    with pytest.raises(EventIgnored) as ignored:
        await world.receive(world.notification(other_event("Open", [ANN], NOW)))
    assert ignored.value.reason is IgnoredReason.NOT_TRACKED


async def test_no_error_quotes_an_address_or_the_body(world: World) -> None:
    secret_address = "very.private.person@example.com"
    attempts = [
        world.notification(bounce([secret_address], NOW), topic_arn=OTHER_TOPIC),
        world.notification(bounce([secret_address], NOW)) | {"Signature": "AAAA"},
        world.notification(bounce([secret_address + ">"], NOW)),
    ]
    for message in attempts:
        with pytest.raises((EventNotAuthentic, MalformedEvent)) as refused:
            await world.receive(message)
        assert "very.private" not in str(refused.value)


async def test_release_remembers_nothing_since_sns_duplicates_carry_the_same_events(
    world: World,
) -> None:
    message = world.notification(bounce([ANN], NOW))
    first = await world.receive(message)
    await world.receiver.release(first)
    assert await world.receive(message) == first


def test_the_topics_allowed_are_checked_when_the_receiver_is_made(signer: SnsSigner) -> None:
    with pytest.raises(ValueError, match="topic ARN"):
        World(signer, topics=("ses-events",))
