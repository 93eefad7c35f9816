"""Amazon SES events delivered by SNS over HTTPS: verified, then read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from export_resend.adapters.ses.events import ses_events
from export_resend.adapters.ses.hosts import check_subscribe_url, check_topic_arn
from export_resend.adapters.ses.signature import SIGNED_FIELDS, SnsCertificates, verify_signature
from export_resend.application.event_bodies import load_json_object
from export_resend.domain.delivery_events import (
    CertificateFetcher,
    DeliveryEventReceiver,
    EventIgnored,
    EventNotAuthentic,
    EventProvider,
    IgnoredReason,
    MalformedEvent,
    ReceivedEvents,
    SubscriptionConfirmer,
    check_provider_message_id,
)
from export_resend.domain.ports import Clock

MAX_SNS_BODY = 512 * 1024
"""SNS carries messages of up to 256 KiB; their JSON escaping in the envelope may grow them."""

MAX_AGE = timedelta(hours=1)
"""SNS retries a delivery to HTTPS for at most 3,600 s, with the Timestamp and signature of
the first attempt: an older message is not one SNS is still delivering."""

CLOCK_SKEW = timedelta(minutes=5)
"""How far our clock and AWS's may disagree, either way."""

_ENVELOPE = (
    "Type",
    "MessageId",
    "TopicArn",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)


class SesDeliveryEventReceiver(DeliveryEventReceiver):
    """Reads SES events from SNS HTTP(S) notifications of the topics in ``topic_arns``.

    Before anything is believed (``EventNotAuthentic`` otherwise, without any request to
    AWS unless all the cheap checks pass): the body is an SNS message of type
    Notification, SubscriptionConfirmation or UnsubscribeConfirmation; its topic is one of
    ``topic_arns`` (any AWS account can make a topic that SNS signs validly); its
    ``Timestamp`` is at most ``max_age`` old and not in the future, give or take
    ``skew``; its ``SigningCertURL`` is an SNS certificate URL (``hosts.py``); the
    certificate, fetched through ``certificates`` and kept, is valid now; and the signature
    (version 1 or 2) matches.

    Then a SubscriptionConfirmation is confirmed through ``confirmer`` (its SubscribeURL
    must confirm that very topic at SNS) and reported as ``EventIgnored``
    (SUBSCRIPTION_CONFIRMED), an UnsubscribeConfirmation is ``EventIgnored``
    (UNSUBSCRIBED), and a Notification's ``Message`` is read as an SES event
    (``events.ses_events``). SNS may deliver a message twice; its events are the same both
    times, so nothing is remembered and ``release`` does nothing. The request's headers are
    not read: SNS signs none of them (``x-amz-sns-message-type`` repeats the body's Type).
    """

    def __init__(
        self,
        *,
        topic_arns: Iterable[str],
        certificates: CertificateFetcher,
        confirmer: SubscriptionConfirmer,
        clock: Clock,
        max_age: timedelta = MAX_AGE,
        skew: timedelta = CLOCK_SKEW,
        certificate_capacity: int = 16,
    ) -> None:
        self._topics = frozenset(check_topic_arn(arn) for arn in topic_arns)
        self._certificates = SnsCertificates(certificates, certificate_capacity)
        self._confirmer = confirmer
        self._clock = clock
        self._max_age = max_age
        self._skew = skew

    @property
    def provider(self) -> EventProvider:
        return EventProvider.SES

    async def receive(self, headers: Mapping[str, str], body: bytes) -> ReceivedEvents:
        message = self._envelope(body)
        now = self._clock.now()
        published_at = self._timestamp(message["Timestamp"], now)
        key = await self._certificates.key(message["SigningCertURL"], now)
        verify_signature(message, key)
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            try:
                url = check_subscribe_url(
                    message["SubscribeURL"], message["TopicArn"], message["Token"]
                )
            except ValueError as exc:
                raise MalformedEvent(str(exc)) from None
            await self._confirmer.confirm(url)
            raise EventIgnored(IgnoredReason.SUBSCRIPTION_CONFIRMED, "SNS")
        if kind == "UnsubscribeConfirmation":
            raise EventIgnored(IgnoredReason.UNSUBSCRIBED, "SNS")
        events = ses_events(message["Message"], published_at, self._skew)
        return ReceivedEvents(EventProvider.SES, message["MessageId"], events)

    async def release(self, received: ReceivedEvents) -> None:
        return None

    def _envelope(self, body: bytes) -> dict[str, str]:
        """The SNS message's fields, all strings, or ``EventNotAuthentic``."""
        if len(body) > MAX_SNS_BODY:
            raise EventNotAuthentic(f"the body is larger than {MAX_SNS_BODY} bytes")
        try:
            raw = load_json_object(body)
        except ValueError as exc:
            raise EventNotAuthentic(f"not an SNS message: {exc}") from None
        kind = raw.get("Type")
        if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
            raise EventNotAuthentic("not an SNS message of a type we take")
        if raw.get("Subject", "") is None:
            del raw["Subject"]  # some SNS messages give "Subject": null; it is not signed
        needed = {*_ENVELOPE, *SIGNED_FIELDS[kind]} - {"Subject"}
        missing = sorted(n for n in needed if not isinstance(raw.get(n), str))
        wrong = sorted(
            n for n, v in raw.items() if n in SIGNED_FIELDS[kind] and not isinstance(v, str)
        )
        if missing or wrong:
            raise EventNotAuthentic(
                f"SNS fields missing or not strings: {', '.join(missing or wrong)}"
            )
        if raw["TopicArn"] not in self._topics:
            raise EventNotAuthentic("the topic is not one of EXPORT_RESEND_SES_TOPIC_ARNS")
        try:
            check_provider_message_id(raw["MessageId"])
        except ValueError:
            raise EventNotAuthentic("the MessageId is not an SNS message id") from None
        return {n: v for n, v in raw.items() if isinstance(v, str)}

    def _timestamp(self, value: str, now: datetime) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise EventNotAuthentic("the Timestamp is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise EventNotAuthentic("the Timestamp has no time zone")
        moment = moment.astimezone(UTC)
        if moment < now - self._max_age - self._skew:
            raise EventNotAuthentic("the Timestamp is too old: a replay, or a late retry")
        if moment > now + self._skew:
            raise EventNotAuthentic("the Timestamp is in the future")
        return moment
