"""Send one queued delivery through the mailer and record what happened."""

from __future__ import annotations

import logging
from uuid import UUID

from export_resend.application.message import ExportEmailComposer
from export_resend.domain.delivery import Delivery, DeliveryStatus
from export_resend.domain.export import ExportStatus
from export_resend.domain.ports import Clock, Mailer, MailerUnavailable, UnitOfWorkFactory

log = logging.getLogger(__name__)


class SendQueuedEmail:
    """Render and send a QUEUED delivery; record SENT with per-recipient results.

    A delivery whose export is no longer READY (its link would not work), or whose message
    cannot be composed, becomes DEAD and is not sent. When the relay is unavailable the
    delivery stays QUEUED with one more attempt and the error recorded. Anything not QUEUED
    is left alone, so a delivery already handled is never sent again. Two calls for one
    delivery at the same moment must not happen: the single in-process dispatcher runs them
    one at a time (claiming rows with a lease, for many workers, is the outbox's job).
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        mailer: Mailer,
        composer: ExportEmailComposer,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._mailer = mailer
        self._composer = composer
        self._clock = clock

    async def __call__(self, delivery_id: UUID) -> Delivery | None:
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            delivery = await uow.deliveries.get(delivery_id, lock=True)
            if delivery is None or delivery.status is not DeliveryStatus.QUEUED:
                return delivery
            export = await uow.exports.get(delivery.export_id)
            status = None if export is None else export.effective_status(now)
            if export is None or status is not ExportStatus.READY:
                dead = delivery.dead(f"the export is {status or 'gone'}; its link would not work")
                await uow.deliveries.update(dead)
                await uow.commit()
                return dead
        try:
            outgoing = self._composer.compose(export, delivery, now)
        except Exception as exc:  # a template or header fault: retrying cannot help
            log.exception("delivery %s cannot be composed", delivery.id)
            return await self._record(delivery.dead(f"the message cannot be composed: {exc}"))
        try:
            results = await self._mailer.send(outgoing)
        except MailerUnavailable as exc:
            log.warning("delivery %s not sent: %s", delivery.id, exc)
            outcome = delivery.attempt_failed(str(exc))
        else:
            outcome = delivery.sent(tuple(results), self._clock.now())
        return await self._record(outcome)

    async def _record(self, outcome: Delivery) -> Delivery:
        async with self._unit_of_work() as uow:
            await uow.deliveries.update(outcome)
            await uow.commit()
        return outcome
