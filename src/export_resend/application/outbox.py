"""The outbox's use cases: claim the due emails, send one, give back what was not sent.

Every email is a ``Delivery`` row before anything is sent. A dispatcher claims due rows
with a lease (``ClaimDueEmails``), sends each (``SendClaimedEmail``), and gives back what it
cannot finish when it stops (``ReleaseClaimedEmails``). An outcome is recorded only while
its lease is still held, so a dispatcher that lost its lease (it stalled past it, and
another took the row) never overwrites the other's result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

from export_resend.application.telemetry import NO_METRICS
from export_resend.domain.delivery import Delivery, DeliveryStatus, RecipientResult, RetryPolicy
from export_resend.domain.export import Export, ExportStatus
from export_resend.domain.ports import (
    Clock,
    DeliveryMetrics,
    DownloadLinks,
    EmailComposer,
    Mailer,
    MailerUnavailable,
    OutgoingEmail,
    SendResult,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedEmail:
    """A delivery this dispatcher holds the lease of, and its export (``None`` if gone)."""

    delivery: Delivery
    export: Export | None


class ClaimDueEmails:
    """Claim up to ``limit`` due deliveries for ``lease``, with their exports, in one
    transaction. Deliveries held by another dispatcher are skipped."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, lease: timedelta) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._lease = lease

    async def __call__(self, limit: int) -> list[ClaimedEmail]:
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            deliveries = await uow.deliveries.claim(now, uuid4(), self._lease, limit)
            exports: dict[UUID, Export | None] = {}
            for delivery in deliveries:
                if delivery.export_id not in exports:
                    exports[delivery.export_id] = await uow.exports.get(delivery.export_id)
            await uow.commit()
        return [ClaimedEmail(d, exports[d.export_id]) for d in deliveries]


class SendClaimedEmail:
    """Render a claimed delivery with a fresh link and send it to its pending recipients.

    The outcome is recorded per recipient: SENT when the relay has answered for everyone
    (and took it for someone); QUEUED again, with a later ``next_attempt_at``, when the
    relay is unavailable or refused some addresses for now (only those are tried again,
    with the same Message-ID); DEAD when attempts run out, when the export is no longer
    READY (its link would not work), or when the message cannot be composed.

    Each attempt and each outcome recorded is told to ``metrics``. Log lines carry the
    ``delivery_id`` and ``export_id``; they never carry an address or the relay's text
    (which may quote addresses): that text is kept on the delivery, for its owner.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        mailer: Mailer,
        composer: EmailComposer,
        links: DownloadLinks,
        clock: Clock,
        retry: RetryPolicy,
        metrics: DeliveryMetrics = NO_METRICS,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._mailer = mailer
        self._composer = composer
        self._links = links
        self._clock = clock
        self._retry = retry
        self._metrics = metrics

    async def __call__(self, claimed: ClaimedEmail) -> Delivery:
        delivery, export = claimed.delivery, claimed.export
        ids = _ids(delivery)
        now = self._clock.now()
        status = None if export is None else export.effective_status(now)
        if export is None or status is not ExportStatus.READY:
            reason = f"the export is {status or 'gone'}; its link would not work"
            return await self._record(delivery, delivery.dead(reason, now))
        try:
            link = self._links.url_for(export)
            composed = self._composer.compose(export, delivery, link, now)
        except Exception as exc:  # a template or header fault: retrying cannot help
            log.exception("delivery %s cannot be composed", delivery.id, extra=ids)
            reason = f"the message cannot be composed: {type(exc).__name__}"
            return await self._record(delivery, delivery.dead(reason, now))
        email = OutgoingEmail(composed.sender, delivery.pending_recipients(), composed.message)
        attempt = {**ids, "attempt": delivery.attempts + 1}
        started = time.perf_counter()
        results: Sequence[RecipientResult] = ()
        try:
            results = await self._mailer.send(email)
        except MailerUnavailable as exc:
            result = SendResult.UNAVAILABLE
            cause = type(exc.__cause__ or exc.__context__ or exc).__name__
            log.warning(
                "delivery %s not sent (attempt %d): the relay is unavailable (%s)",
                delivery.id,
                delivery.attempts + 1,
                cause,
                extra={**attempt, "result": result.value, "error": cause},
            )
            outcome = delivery.attempt_failed(str(exc), self._clock.now(), self._retry)
        except Exception as exc:  # a fault of the mailer itself: counted, so that it ends
            result = SendResult.ERROR
            log.exception("delivery %s: the mailer failed", delivery.id, extra=attempt)
            error = f"the mailer failed: {type(exc).__name__}"
            outcome = delivery.attempt_failed(error, self._clock.now(), self._retry)
        else:
            result = SendResult.of(results)
            outcome = delivery.attempted(results, self._clock.now(), self._retry)
            log.info(
                "delivery %s attempted (attempt %d): %s",
                delivery.id,
                delivery.attempts + 1,
                result.value,
                extra={**attempt, "result": result.value, "delivery_status": outcome.status.value},
            )
        self._metrics.send_attempted(result, time.perf_counter() - started, results)
        return await self._record(delivery, outcome)

    async def _record(self, claimed: Delivery, outcome: Delivery) -> Delivery:
        recorded = await _replace_if_held(self._unit_of_work, [(claimed, outcome)])
        if not recorded:
            log.warning(
                "delivery %s: lease lost before its outcome was recorded",
                claimed.id,
                extra=_ids(claimed),
            )
            return outcome
        self._metrics.delivery_recorded(outcome.status)
        if outcome.status is DeliveryStatus.DEAD:
            log.warning(
                "delivery %s is DEAD after %d attempts",
                claimed.id,
                outcome.attempts,
                extra={**_ids(claimed), "delivery_status": outcome.status.value},
            )
        return outcome


class ReleaseClaimedEmails:
    """Give back claimed deliveries unsent: QUEUED and due at once, no attempt counted.
    A delivery whose lease has passed to another dispatcher is left to it."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def __call__(self, deliveries: Sequence[Delivery]) -> int:
        now = self._clock.now()
        pairs = [(d, d.released(now)) for d in deliveries]
        return len(await _replace_if_held(self._unit_of_work, pairs))


def _ids(delivery: Delivery) -> dict[str, object]:
    """The ids that a log line about ``delivery`` carries (as ``extra``)."""
    return {"delivery_id": str(delivery.id), "export_id": str(delivery.export_id)}


async def _replace_if_held(
    unit_of_work: UnitOfWorkFactory, changes: Iterable[tuple[Delivery, Delivery]]
) -> list[Delivery]:
    """Store each new delivery whose stored row is still under the claimed one's lease."""
    stored_ones = []
    async with unit_of_work() as uow:
        for claimed, new in changes:
            stored = await uow.deliveries.get(claimed.id, lock=True)
            if (
                stored is not None
                and stored.status is DeliveryStatus.SENDING
                and stored.lease_id == claimed.lease_id
            ):
                await uow.deliveries.update(new)
                stored_ones.append(new)
        await uow.commit()
    return stored_ones
