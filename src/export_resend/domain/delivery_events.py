"""What a mail provider reports about an email after it left us, and the ports that verify it.

A provider (Amazon SES through SNS, or a sender signing with Standard Webhooks) tells us, for
one recipient of one message, that it was delivered, bounced or complained about. Each
notification is verified before a word of it is believed, then read into one
``DeliveryEvent`` per recipient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from export_resend.domain.delivery import printable
from export_resend.domain.errors import DomainError
from export_resend.domain.recipients import check_bare_address

MAX_DIAGNOSTIC = 500
"""The longest diagnostic text kept on an event."""

MAX_MESSAGE_ID = 998
"""The longest Message-ID read (RFC 5322's line limit)."""

MAX_PROVIDER_MESSAGE_ID = 256
"""The longest provider's own message id read (SES's are about 60 characters)."""

_NOT_IN_A_MESSAGE_ID = frozenset(' \t<>"\\')


class EventProvider(StrEnum):
    """Who reported the event (the ``{provider}`` of its route)."""

    SES = "ses"
    STANDARD_WEBHOOKS = "standard-webhooks"


class DeliveryEventType(StrEnum):
    """What happened to the message at one recipient."""

    DELIVERED = "DELIVERED"
    BOUNCED = "BOUNCED"
    COMPLAINED = "COMPLAINED"


class BounceType(StrEnum):
    """PERMANENT: the address will never accept it; TRANSIENT: not now (mailbox full, greylisted);
    UNDETERMINED: the provider could not tell (SES's ``Undetermined``)."""

    PERMANENT = "PERMANENT"
    TRANSIENT = "TRANSIENT"
    UNDETERMINED = "UNDETERMINED"


def check_message_id(value: str) -> str:
    """Return ``value`` if it has the shape of a Message-ID as we send it, ``<left@right>``:
    angle brackets, one ``@`` with text on both sides, printable ASCII without white space,
    at most ``MAX_MESSAGE_ID`` characters. Raises ``ValueError``."""
    inner = value[1:-1]
    left, at, right = inner.partition("@")
    if (
        len(value) > MAX_MESSAGE_ID
        or not (value.startswith("<") and value.endswith(">"))
        or not (left and at and right)
        or "@" in right
        or any(c in _NOT_IN_A_MESSAGE_ID or not " " < c < "\x7f" for c in inner)
    ):
        raise ValueError("not a Message-ID of the form <left@right>")
    return value


def check_provider_message_id(value: str) -> str:
    """Return ``value`` if it can be a provider's message id: 1 to ``MAX_PROVIDER_MESSAGE_ID``
    printable ASCII characters, no white space. Raises ``ValueError``."""
    if not 0 < len(value) <= MAX_PROVIDER_MESSAGE_ID or not all(" " < c < "\x7f" for c in value):
        raise ValueError("not a provider message id: 1 to 256 printable ASCII characters")
    return value


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One provider's word about one recipient of one message we sent.

    The message is named by ``message_id`` (our ``Message-ID``, ``<…@domain>``, when the
    provider reports it), by ``provider_message_id`` (the provider's own id, such as the one
    SES returns in its ``250`` reply), or both. ``recipient`` is a bare address, normalised
    as our recipients are; compare it case-insensitively. ``bounce_type`` is given exactly for
    BOUNCED. ``diagnostic`` is the provider's text, made ``printable`` and at most
    ``MAX_DIAGNOSTIC`` characters long.
    """

    provider: EventProvider
    type: DeliveryEventType
    at: datetime
    recipient: str
    message_id: str | None = None
    provider_message_id: str | None = None
    bounce_type: BounceType | None = None
    diagnostic: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() != timedelta(0):
            raise ValueError(f"at must be a timezone-aware UTC datetime, got {self.at!r}")
        check_bare_address(self.recipient)
        if self.message_id is None and not self.provider_message_id:
            raise ValueError("an event names its message: message_id or provider_message_id")
        if self.message_id is not None:
            check_message_id(self.message_id)
        if self.provider_message_id is not None:
            check_provider_message_id(self.provider_message_id)
        if (self.type is DeliveryEventType.BOUNCED) != (self.bounce_type is not None):
            raise ValueError("a bounce_type is given for BOUNCED events, and only for them")
        if self.diagnostic is not None:
            object.__setattr__(self, "diagnostic", printable(self.diagnostic, MAX_DIAGNOSTIC))

    @property
    def suppresses(self) -> bool:
        """Whether the recipient should be sent nothing more: a complaint, or a permanent
        bounce. A transient or undetermined bounce does not (docs/decisions.md says why)."""
        return self.type is DeliveryEventType.COMPLAINED or (
            self.bounce_type is BounceType.PERMANENT
        )


@dataclass(frozen=True, slots=True)
class ReceivedEvents:
    """The events of one verified notification, one per recipient (never none), and the
    sender's id for that notification (SNS's ``MessageId``, the ``webhook-id``)."""

    provider: EventProvider
    notification_id: str
    events: tuple[DeliveryEvent, ...]

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("a notification received reports at least one event")


class EventNotAuthentic(DomainError):
    """The notification cannot be shown to come from the provider: unsigned, badly signed,
    from a certificate or topic not allowed, stale, or replayed. Record nothing (401).

    ``reason`` says which, for logs; it never holds the body, a signature or a secret.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"delivery event refused: {reason}")
        self.reason = reason


class MalformedEvent(DomainError):
    """The notification is authentic but cannot be read: a field missing or of the wrong
    shape (400). ``reason`` names the field, never its value (values hold addresses)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"delivery event not readable: {reason}")
        self.reason = reason


class IgnoredReason(StrEnum):
    """Why an authentic notification records nothing."""

    SUBSCRIPTION_CONFIRMED = "SUBSCRIPTION_CONFIRMED"
    """SNS asked to confirm a subscription of an allowed topic, and it was confirmed."""
    UNSUBSCRIBED = "UNSUBSCRIBED"
    """SNS says the subscription was removed."""
    NOT_TRACKED = "NOT_TRACKED"
    """An event type we do not record (SES Send, Open, Click, ...; a webhook type not ours)."""
    NOT_A_COMPLAINT = "NOT_A_COMPLAINT"
    """A feedback report that says the message is *not* spam."""


class EventIgnored(Exception):
    """The notification is authentic and well formed, and records nothing: accept it (2xx),
    count it by ``reason``. ``detail`` (the provider's event type, say) is safe to log."""

    def __init__(self, reason: IgnoredReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = printable(detail, 64)
        super().__init__(f"delivery event ignored: {reason.value} {self.detail}".rstrip())


class ProviderUnavailable(Exception):
    """The provider could not be reached to verify or confirm a notification (a certificate
    or a confirmation URL did not answer as it should): nothing was decided, try later (503)."""


class DeliveryEventReceiver(Protocol):
    """Verifies one provider's notifications and reads the events they report.

    ``receive`` takes the request's headers (each name once, looked up case-insensitively)
    and its raw body, and returns the events, one per recipient; or raises
    ``EventNotAuthentic`` (nothing was verified: record nothing), ``MalformedEvent``
    (verified, unreadable), ``EventIgnored`` (verified, nothing to record) or
    ``ProviderUnavailable``. Nothing is believed before the signature is verified, and
    neither the body nor a secret reaches a log or an error. ``release`` is called when the
    events received could not be recorded, so that the sender's retry of the same
    notification is not refused as a replay.
    """

    @property
    def provider(self) -> EventProvider: ...

    async def receive(self, headers: Mapping[str, str], body: bytes) -> ReceivedEvents: ...

    async def release(self, received: ReceivedEvents) -> None: ...


class SeenWebhookIds(Protocol):
    """The notification ids already accepted, shared by every replica, to refuse replays.

    ``first_seen(id, now, until)`` records ``id`` and returns ``True`` if it was not already
    recorded with an end after ``now``; otherwise returns ``False`` and changes nothing. It is
    atomic: of any number of concurrent calls with one id, exactly one gets ``True``. An id is
    remembered at least until ``until``, and may be forgotten from then on. ``forget(id)``
    drops it at once (its events could not be recorded); forgetting an unknown id does
    nothing. Ids are compared exactly (case-sensitively).
    """

    async def first_seen(self, webhook_id: str, now: datetime, until: datetime) -> bool: ...

    async def forget(self, webhook_id: str) -> None: ...


class CertificateFetcher(Protocol):
    """The PEM bytes served at an https URL on an AWS SNS host (the caller checked it).

    Never follows a redirect; refuses a body larger than a certificate can be. Raises
    ``ProviderUnavailable`` for any failure (unreachable, a status other than 200, too
    large), never anything else.
    """

    async def fetch(self, url: str) -> bytes: ...


class SubscriptionConfirmer(Protocol):
    """Visits an SNS ``SubscribeURL`` once (an https URL on an SNS host with
    ``Action=ConfirmSubscription``, checked by the caller), to confirm the subscription.

    Returns once SNS answered 200; never follows a redirect; raises ``ProviderUnavailable``
    otherwise, never anything else.
    """

    async def confirm(self, url: str) -> None: ...
