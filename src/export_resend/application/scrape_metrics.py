"""The metrics page, with the queues read from the store at the moment of the scrape."""

from __future__ import annotations

import logging

from export_resend.domain.ports import (
    Backlog,
    BoundedCall,
    Clock,
    Exposition,
    MetricsExposition,
    QueueReading,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


class ReadQueues:
    """The outbox's and the generation queue's backlogs now, read in one unit of work."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def __call__(self) -> tuple[Backlog, Backlog]:
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            return await uow.deliveries.backlog(now), await uow.jobs.backlog(now)


class ScrapeMetrics:
    """Read the queues (``ReadQueues``, bounded by ``queues``: its ``timeout``, one read at
    a time), and render every metric with them.

    When the store does not answer in time, or fails, the page is still rendered, with
    the queues marked unread: counters never go missing because the database is slow.
    """

    def __init__(
        self,
        *,
        queues: BoundedCall[tuple[Backlog, Backlog]],
        clock: Clock,
        exposition: MetricsExposition,
    ) -> None:
        self._queues = queues
        self._clock = clock
        self._exposition = exposition

    async def __call__(self) -> Exposition:
        now = self._clock.now()
        try:
            outbox, generation = await self._queues()
        except Exception as exc:
            log.warning("metrics: the queues could not be read (%s)", type(exc).__name__)
            return self._exposition.render(QueueReading(now, None, None))
        return self._exposition.render(QueueReading(now, outbox, generation))
