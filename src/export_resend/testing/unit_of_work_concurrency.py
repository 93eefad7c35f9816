"""What ``UnitOfWorkContract`` checks about units of work at the same time: locks, conflicts,
JSON that comes back exactly, and connections lost. ``UnitOfWorkContract`` includes it; the
fixtures are that suite's (``unit_of_work``, and ``lose_connections`` for a store that holds
connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import Export, ExportStatus, ExportType
from export_resend.domain.generation import GenerationJob
from export_resend.domain.ports import (
    ConcurrentUpdate,
    StorageUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
)
from export_resend.domain.recipients import Recipients
from export_resend.domain.records import TransactionEventFilters, TransactionEventStatus
from export_resend.testing.samples import sample_delivery, sample_export

__all__ = ["ConcurrencyClauses", "LoseConnections"]

LoseConnections = Callable[[], Awaitable[None]]
"""Drops every connection the store holds, as a server restart would, and returns once the
store's side has seen them go."""

HELD = 0.3
"""How long a unit of work waits, at least, for a lock another one holds: long enough for
one that did not wait to have finished many times over."""
_NEVER_DUE = datetime(2999, 1, 1, tzinfo=UTC)
"""When the rows of these tests are due: never, for any claim of another test."""


@dataclass(frozen=True)
class _Row:
    """One stored row of one repository: how to read it, and how to write a new version of
    what was read (returning it as stored)."""

    read: Callable[[UnitOfWork, bool], Awaitable[Any]]
    write: Callable[[UnitOfWork, Any], Awaitable[Any]]


def _row(repository: str, row_id: UUID) -> _Row:
    """A row of ``uow.exports``, ``uow.deliveries`` or ``uow.jobs``; a write adds a CC to an
    export, an attempt to a delivery or a job."""

    async def read(uow: UnitOfWork, lock: bool) -> Any:
        return await getattr(uow, repository).get(row_id, lock=lock)

    async def write(uow: UnitOfWork, read: Any) -> Any:
        if isinstance(read, Export):
            return await uow.exports.update(dataclasses.replace(read, cc=(*read.cc, "x@x.io")))
        changed = dataclasses.replace(read, attempts=read.attempts + 1)
        await getattr(uow, repository).update(changed)
        return changed

    return _Row(read, write)


_REPOSITORIES = ["exports", "deliveries", "jobs"]


class ConcurrencyClauses:
    """Locks, conflicts, JSON and lost connections: part of ``UnitOfWorkContract``, whose
    ``unit_of_work`` fixture it uses."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def lose_connections(self) -> LoseConnections | None:
        """Override it for a store that holds connections (a database): the tests of lost
        connections skip while it is ``None``."""
        return None

    @pytest.fixture
    def row_locks(self) -> bool:
        """Override it with ``True`` for a store that locks rows, not the whole database: two
        units of work can then wait for each other, and one of them must be refused."""
        return False

    @contextlib.asynccontextmanager
    async def _rows(
        self, unit_of_work: UnitOfWorkFactory, repository: str
    ) -> AsyncIterator[tuple[_Row, _Row]]:
        """Two rows of ``repository``, never due for any claim, settled afterwards."""
        exports = [sample_export(ExportStatus.PENDING) for _ in range(2)]
        deliveries = [sample_delivery(e, _NEVER_DUE) for e in exports]
        jobs = [GenerationJob.queue(e.id, _NEVER_DUE) for e in exports]
        async with unit_of_work() as uow:
            for export, delivery, job in zip(exports, deliveries, jobs, strict=True):
                await uow.exports.add(export)
                await uow.deliveries.add(delivery)
                await uow.jobs.add(job)
            await uow.commit()
        ids = {
            "exports": [e.id for e in exports],
            "deliveries": [d.id for d in deliveries],
            "jobs": [e.id for e in exports],
        }[repository]
        first, second = (_row(repository, row_id) for row_id in ids)
        try:
            yield first, second
        finally:
            async with unit_of_work() as uow:
                for delivery in deliveries:
                    await uow.deliveries.update(delivery.dead("test over", _NEVER_DUE))
                for job in jobs:
                    await uow.jobs.remove(job.export_id)
                await uow.commit()

    @pytest.mark.parametrize("repository", _REPOSITORIES)
    async def test_a_locked_read_waits_for_the_unit_of_work_holding_the_lock(
        self, unit_of_work: UnitOfWorkFactory, repository: str
    ) -> None:
        async with self._rows(unit_of_work, repository) as (row, _):

            async def read_locked() -> Any:
                async with unit_of_work() as uow:
                    return await row.read(uow, True)

            async with unit_of_work() as holder:
                read = await row.read(holder, True)
                waiting = asyncio.create_task(read_locked())
                await asyncio.sleep(HELD)
                assert not waiting.done(), "a second locked read did not wait for the first"
                written = await row.write(holder, read)
                await holder.commit()
            assert await asyncio.wait_for(waiting, 10) == written

    @pytest.mark.parametrize("repository", _REPOSITORIES)
    async def test_an_update_waits_for_the_unit_of_work_holding_the_lock(
        self, unit_of_work: UnitOfWorkFactory, repository: str
    ) -> None:
        async with self._rows(unit_of_work, repository) as (row, _):
            async with unit_of_work() as uow:
                before = await row.read(uow, False)

            async def write() -> Any:
                async with unit_of_work() as uow:
                    written = await row.write(uow, before)
                    await uow.commit()
                    return written

            async with unit_of_work() as holder:
                assert await row.read(holder, True) == before
                waiting = asyncio.create_task(write())
                await asyncio.sleep(HELD)
                assert not waiting.done(), "an update did not wait for a locked read"
                await holder.commit()
            written = await asyncio.wait_for(waiting, 10)
            async with unit_of_work() as uow:
                assert await row.read(uow, False) == written

    @pytest.mark.parametrize("then", ["a locked read", "an update"])
    @pytest.mark.parametrize("repository", _REPOSITORIES)
    async def test_units_of_work_locking_in_opposite_orders_never_both_wait(
        self, unit_of_work: UnitOfWorkFactory, row_locks: bool, repository: str, then: str
    ) -> None:
        """Each locks one row, then wants the other's: where both would wait for ever (a
        deadlock: ``row_locks``), one of them raises ``ConcurrentUpdate`` and the other goes
        on; where the store locks all at once, one waits for the other. Never another
        error."""
        async with self._rows(unit_of_work, repository) as rows:
            async with unit_of_work() as uow:
                before = [await row.read(uow, False) for row in rows]
            locked = 0
            both_locked = asyncio.Event()

            async def lock_mine_then_theirs(mine: int) -> None:
                nonlocal locked
                theirs = 1 - mine
                async with unit_of_work() as uow:
                    await rows[mine].read(uow, True)
                    locked += 1
                    if locked == 2:
                        both_locked.set()
                    # a store that locks the whole database lets nobody else lock meanwhile
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(both_locked.wait(), HELD)
                    if then == "a locked read":
                        await rows[theirs].read(uow, True)
                    else:
                        await rows[theirs].write(uow, before[theirs])
                    await uow.commit()

            results = await asyncio.wait_for(
                asyncio.gather(
                    lock_mine_then_theirs(0), lock_mine_then_theirs(1), return_exceptions=True
                ),
                30,
            )
        assert all(r is None or isinstance(r, ConcurrentUpdate) for r in results), results
        assert results.count(None) == (1 if row_locks else 2), results

    @pytest.mark.parametrize("repository", ["deliveries", "jobs"])
    async def test_a_claim_never_takes_what_another_unit_of_work_holds_locked(
        self, unit_of_work: UnitOfWorkFactory, repository: str
    ) -> None:
        """The claim skips it, or waits until the holder has settled it."""
        now = datetime(1995, 6, 1, tzinfo=UTC)
        export = sample_export(ExportStatus.PENDING)
        delivery = sample_delivery(export, now)
        job = GenerationJob.queue(export.id, now)
        async with unit_of_work() as uow:
            await uow.exports.add(export)
            await uow.deliveries.add(delivery)
            await uow.jobs.add(job)
            await uow.commit()

        async def claim() -> list[UUID]:
            async with unit_of_work() as uow:
                if repository == "deliveries":
                    taken = [d.id for d in await uow.deliveries.claim(now, uuid4(), HOUR, 100)]
                else:
                    taken = [j.export_id for j in await uow.jobs.claim(now, uuid4(), HOUR, 100)]
                await uow.commit()
                return taken

        async with unit_of_work() as holder:
            assert await holder.deliveries.get(delivery.id, lock=True) is not None
            assert await holder.jobs.get(export.id, lock=True) is not None
            claiming = asyncio.create_task(claim())
            await asyncio.sleep(0.05)
            await holder.deliveries.update(delivery.dead("settled by its holder", now))
            await holder.jobs.remove(export.id)
            await holder.commit()
        taken = await asyncio.wait_for(claiming, 10)
        assert delivery.id not in taken
        assert export.id not in taken

    async def test_json_values_come_back_exactly(self, unit_of_work: UnitOfWorkFactory) -> None:
        """CC lists, filters and a delivery's results: empty, not ASCII, quotes, back
        slashes, numbers as decimals, and nulls."""
        quoted = "δοκιμή+tag@παράδειγμα.δοκιμή"
        filtered = dataclasses.replace(
            sample_export(ExportStatus.PENDING, cc=("zoë@exämple.com", quoted)),
            type=ExportType.TRANSACTION_EVENTS,
            filters=TransactionEventFilters(
                statuses=frozenset(TransactionEventStatus),
                amount_min=Decimal("-0.000001"),
                amount_max=Decimal("12345678901234567890.99"),
                updated_at_from=datetime(2026, 1, 2, 3, 4, 5, 600007, tzinfo=UTC),
            ),
            supplier_scope=None,
        )
        plain = dataclasses.replace(sample_export(), filters=None)
        results = (
            RecipientResult("zoë@exämple.com", RecipientOutcome.ACCEPTED, 250, "2.0.0 Ok: é 𝄞"),
            RecipientResult(quoted, RecipientOutcome.REFUSED_TRANSIENTLY, None, None),
            RecipientResult("a@x.example", RecipientOutcome.REFUSED_PERMANENTLY, 550, '"\\'),
        )
        delivery = dataclasses.replace(
            Delivery.queue(
                filtered.id,
                DeliveryKind.RESEND,
                Recipients("zoë@exämple.com", (quoted, "a@x.example")),
                _NEVER_DUE,
                "example.com",
            ),
            results=results,
        )
        bare = sample_delivery(plain, _NEVER_DUE)
        bare = dataclasses.replace(bare, recipients=Recipients(bare.recipients.to))
        async with unit_of_work() as uow:
            for export in (filtered, plain):
                await uow.exports.add(export)
            for each in (delivery, bare):
                await uow.deliveries.add(each)
            await uow.commit()
        try:
            async with unit_of_work() as uow:
                assert await uow.exports.get(filtered.id) == filtered
                assert await uow.exports.get(plain.id) == plain
                assert await uow.deliveries.get(delivery.id) == delivery
                assert await uow.deliveries.get(bare.id) == bare
        finally:
            async with unit_of_work() as uow:
                for each in (delivery, bare):
                    await uow.deliveries.update(each.dead("test over", _NEVER_DUE))
                await uow.commit()

    async def _stored_before_losing(
        self, unit_of_work: UnitOfWorkFactory, lose_connections: LoseConnections | None
    ) -> tuple[Export, LoseConnections]:
        if lose_connections is None:
            pytest.skip("this store holds no connection to lose")
        export = sample_export()
        async with unit_of_work() as uow:
            await uow.exports.add(export)
            await uow.commit()
        return export, lose_connections

    async def test_a_connection_lost_between_units_of_work_is_replaced(
        self, unit_of_work: UnitOfWorkFactory, lose_connections: LoseConnections | None
    ) -> None:
        export, lose = await self._stored_before_losing(unit_of_work, lose_connections)
        await lose()
        for _ in range(3):
            async with unit_of_work() as uow:
                assert await uow.exports.get(export.id) == export

    async def test_a_connection_lost_inside_a_unit_of_work_is_storage_unavailable(
        self, unit_of_work: UnitOfWorkFactory, lose_connections: LoseConnections | None
    ) -> None:
        """Its writes are gone with it; the next unit of work works."""
        export, lose = await self._stored_before_losing(unit_of_work, lose_connections)
        lost = sample_export()
        with pytest.raises(StorageUnavailable):
            async with unit_of_work() as uow:
                await uow.exports.add(lost)
                await lose()
                await uow.exports.get(export.id, lock=True)
                await uow.commit()
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) == export
            assert await uow.exports.get(lost.id) is None


HOUR = timedelta(hours=1)
