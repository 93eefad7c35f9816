"""One email to send: a record in the outbox, from queued to sent."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from export_resend.domain.errors import ResendRateLimited
from export_resend.domain.recipients import Recipients


class DeliveryKind(StrEnum):
    """Why the email is sent: the export became READY, or its owner asked again."""

    INITIAL = "INITIAL"
    RESEND = "RESEND"


class DeliveryStatus(StrEnum):
    """QUEUED until a dispatcher claims it; SENDING while one holds its lease; SENT once the
    relay has answered for every recipient and took it for at least one; DEAD if never.

    QUEUED → SENDING → SENT, or back to QUEUED for another attempt later, or DEAD. A
    SENDING delivery whose lease has ended may be claimed again (its dispatcher is gone).
    """

    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    DEAD = "DEAD"


class RecipientOutcome(StrEnum):
    """What the relay said about one address."""

    ACCEPTED = "ACCEPTED"
    REFUSED_PERMANENTLY = "REFUSED_PERMANENTLY"
    REFUSED_TRANSIENTLY = "REFUSED_TRANSIENTLY"


MAX_TEXT = 500
"""The longest relay text or error kept on a delivery."""


def printable(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` fit to store and show: valid Unicode (a relay's undecodable bytes become
    ``?``), no control characters, at most ``limit`` characters."""
    valid = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(c if c.isprintable() else " " for c in valid)[:limit]


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The relay's answer for one address of the envelope (its text made ``printable``)."""

    address: str
    outcome: RecipientOutcome
    code: int | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.text is not None:
            object.__setattr__(self, "text", printable(self.text))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how long apart, a delivery is tried.

    The wait before attempt ``n + 1`` is ``first_delay * 2 ** (n - 1)``, at most
    ``max_delay``, then spread at random over its upper half (so that deliveries that
    failed together do not all come back together, and the wait still grows). After
    ``max_attempts`` attempts the delivery is DEAD.
    """

    max_attempts: int = 20
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not timedelta(0) < self.first_delay <= self.max_delay:
            raise ValueError("need 0 < first_delay <= max_delay")

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th attempt failed."""
        doubled = self.first_delay.total_seconds() * 2.0 ** min(max(attempts - 1, 0), 64)
        ceiling = min(doubled, self.max_delay.total_seconds())
        return timedelta(seconds=ceiling / 2 + ceiling / 2 * self.jitter())


@dataclass(frozen=True, slots=True)
class ResendLimit:
    """At most ``per_window`` resends of one export in any rolling ``window``.

    A resend queued at ``t`` counts until ``t + window``; the one that would exceed the
    limit is refused with the time until the oldest counted resend stops counting.
    """

    per_window: int
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.per_window < 1:
            raise ValueError("per_window must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError("window must be longer than zero")

    def counted_after(self, now: datetime) -> datetime:
        """Resends queued strictly after this moment count at ``now``."""
        return now - self.window

    def check(self, export_id: UUID, counted: Sequence[datetime], now: datetime) -> None:
        """Raise ``ResendRateLimited`` if ``counted`` (the ``queued_at`` of the export's
        resends after ``counted_after(now)``) leaves no room for one more."""
        if len(counted) < self.per_window:
            return
        opens_at = sorted(counted)[-self.per_window] + self.window
        wait = max(1, math.ceil((opens_at - now).total_seconds()))
        raise ResendRateLimited(export_id, self.per_window, wait)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One email for one export, in the outbox. ``message_id`` is made once and kept on
    every retry, so a receiver can tell a retried message from a new one.

    ``next_attempt_at`` is when a dispatcher may next claim it: for QUEUED, the earliest
    next attempt; for SENDING, the end of the lease held under ``lease_id``. ``results``
    holds the relay's latest answer for each address of the envelope that was tried.
    """

    id: UUID
    export_id: UUID
    kind: DeliveryKind
    recipients: Recipients
    message_id: str
    status: DeliveryStatus
    queued_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    results: tuple[RecipientResult, ...] = ()
    lease_id: UUID | None = None

    @classmethod
    def queue(
        cls,
        export_id: UUID,
        kind: DeliveryKind,
        recipients: Recipients,
        now: datetime,
        message_id_domain: str,
    ) -> Delivery:
        """A new QUEUED delivery, due at once, with a fresh random id and the Message-ID
        derived from it."""
        delivery_id = uuid4()
        return cls(
            id=delivery_id,
            export_id=export_id,
            kind=kind,
            recipients=recipients,
            message_id=f"<{delivery_id.hex}@{message_id_domain}>",
            status=DeliveryStatus.QUEUED,
            queued_at=now,
            next_attempt_at=now,
        )

    def is_due(self, now: datetime) -> bool:
        """Whether a dispatcher may claim it now: QUEUED and due, or SENDING past its lease."""
        waiting = self.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
        return waiting and self.next_attempt_at <= now

    def claimed(self, lease_id: UUID, now: datetime, lease: timedelta) -> Delivery:
        """Taken by the dispatcher holding ``lease_id`` until ``now + lease``."""
        if not self.is_due(now):
            raise ValueError(f"delivery {self.id} is {self.status} and not due: not claimable")
        return dataclasses.replace(
            self, status=DeliveryStatus.SENDING, next_attempt_at=now + lease, lease_id=lease_id
        )

    def pending_recipients(self) -> tuple[str, ...]:
        """The envelope addresses still to deliver to, in envelope order: all of them at
        first; later, those the relay has neither accepted nor refused for good."""
        settled = {
            r.address.lower()
            for r in self.results
            if r.outcome is not RecipientOutcome.REFUSED_TRANSIENTLY
        }
        return tuple(a for a in self.recipients.envelope if a.lower() not in settled)

    def attempted(
        self, results: Iterable[RecipientResult], now: datetime, policy: RetryPolicy
    ) -> Delivery:
        """The relay answered for the pending recipients. When none is left pending the
        delivery is SENT (DEAD if nobody at all accepted it); otherwise the addresses
        refused for now are tried again later, alone. When the attempts run out with some
        addresses still refused for now, it is SENT if anyone accepted it, else DEAD."""
        latest = {r.address.lower(): r for r in (*self.results, *results)}
        merged = tuple(latest[a.lower()] for a in self.recipients.envelope if a.lower() in latest)
        tried = dataclasses.replace(
            self, attempts=self.attempts + 1, last_attempt_at=now, results=merged, lease_id=None
        )
        transient = [r for r in merged if r.outcome is RecipientOutcome.REFUSED_TRANSIENTLY]
        if transient or len(merged) < len(self.recipients.envelope):
            refused = ", ".join(f"{r.code} {r.text}".strip() for r in transient[:3])
            return tried._retry(f"refused for now: {refused or 'no answer'}", now, policy)
        if not any(r.outcome is RecipientOutcome.ACCEPTED for r in merged):
            return tried.dead("the relay refused every recipient", now)
        return dataclasses.replace(
            tried, status=DeliveryStatus.SENT, sent_at=now, next_attempt_at=now, last_error=None
        )

    def attempt_failed(self, error: str, now: datetime, policy: RetryPolicy) -> Delivery:
        """The relay could not be reached, or broke off: try again later, if attempts remain."""
        tried = dataclasses.replace(
            self, attempts=self.attempts + 1, last_attempt_at=now, lease_id=None
        )
        return tried._retry(error, now, policy)

    def released(self, now: datetime) -> Delivery:
        """Given back unsent by a dispatcher that stops: due again at once, no attempt counted."""
        return dataclasses.replace(
            self, status=DeliveryStatus.QUEUED, next_attempt_at=now, lease_id=None
        )

    def dead(self, reason: str, now: datetime) -> Delivery:
        """It will never be sent, for ``reason``."""
        return dataclasses.replace(
            self,
            status=DeliveryStatus.DEAD,
            last_error=printable(reason),
            next_attempt_at=now,
            lease_id=None,
        )

    def _retry(self, error: str, now: datetime, policy: RetryPolicy) -> Delivery:
        if self.attempts >= policy.max_attempts:
            gave_up = f"gave up after {self.attempts} attempts: {error}"
            if any(r.outcome is RecipientOutcome.ACCEPTED for r in self.results):
                # some recipients have it: SENT, with the others' last answers kept
                return dataclasses.replace(
                    self,
                    status=DeliveryStatus.SENT,
                    sent_at=now,
                    next_attempt_at=now,
                    last_error=printable(gave_up),
                )
            return self.dead(gave_up, now)
        return dataclasses.replace(
            self,
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now + policy.delay(self.attempts),
            last_error=printable(error),
        )
