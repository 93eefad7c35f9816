"""Exports, deliveries, jobs and idempotency keys in dictionaries, with real commit, rollback
and row locks."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta
from typing import Generic, Self, TypeVar
from uuid import UUID

from export_resend.application.check_readiness import DatabaseProbe
from export_resend.domain import ports
from export_resend.domain.delivery import Delivery, DeliveryKind, DeliveryStatus
from export_resend.domain.export import (
    Export,
    ExportPage,
    ExportQuery,
    ExportStatus,
    newest_first,
)
from export_resend.domain.generation import GenerationJob
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord

KeyT = TypeVar("KeyT", bound=Hashable)
RowT = TypeVar("RowT", Export, Delivery, GenerationJob, IdempotencyRecord)


class RowLocks:
    """Exclusive row locks, as a database holds them: a unit of work takes a row's lock by a
    locked read, an update, a remove or a claim, and holds it until it ends. Another that
    wants it waits until then, unless that wait would close a circle of units of work
    waiting for each other (a deadlock): that one raises ``ConcurrentUpdate`` instead.
    Claims and purges skip what another holds."""

    def __init__(self) -> None:
        self.holders: dict[Hashable, _Hold] = {}
        self.awaited: dict[_Hold, Hashable] = {}
        """Who waits, for which row."""
        self._freed: asyncio.Event | None = None
        """Set when locks are let go; made on first need, in the loop that waits."""

    @property
    def idle(self) -> bool:
        """Nobody holds or waits for a lock."""
        return not self.holders and not self.awaited

    async def wait(self, hold: _Hold, row: Hashable) -> None:
        freed = self._freed = self._freed or asyncio.Event()
        self.awaited[hold] = row
        try:
            await freed.wait()
        finally:
            del self.awaited[hold]
            if not self.awaited and not freed.is_set():
                self._freed = None

    def let_go(self, rows: set[Hashable]) -> None:
        for row in rows:
            del self.holders[row]
        if rows and self._freed is not None:
            self._freed.set()
            self._freed = None


class _Hold:
    """The locks of one unit of work."""

    def __init__(self, locks: RowLocks) -> None:
        self._locks = locks
        self._rows: set[Hashable] = set()

    def others_hold(self, row: Hashable) -> bool:
        return self._locks.holders.get(row, self) is not self

    async def take(self, row: Hashable) -> None:
        while self.others_hold(row):
            if self._awaited_by(self._locks.holders[row]):
                raise ports.ConcurrentUpdate(
                    f"deadlock: {row} is held by a unit of work that waits"
                )
            await self._locks.wait(self, row)
        self._locks.holders[row] = self
        self._rows.add(row)

    def let_go(self) -> None:
        self._locks.let_go(self._rows)
        self._rows = set()

    def _awaited_by(self, holder: _Hold) -> bool:
        """Whether ``holder`` waits, itself or through others, for a lock this one holds."""
        seen: set[_Hold] = set()
        while holder not in seen:
            seen.add(holder)
            row = self._locks.awaited.get(holder)
            next_holder = None if row is None else self._locks.holders.get(row)
            if next_holder is None:
                return False
            if next_holder is self:
                return True
            holder = next_holder
        return False


class InMemoryStore(DatabaseProbe):
    """The committed state, shared by every unit of work made from it, and its row locks."""

    def __init__(self) -> None:
        self.exports: dict[UUID, Export] = {}
        self.deliveries: dict[UUID, Delivery] = {}
        self.jobs: dict[UUID, GenerationJob] = {}
        self.idempotency: dict[IdempotencyKey, IdempotencyRecord] = {}
        self.locks = RowLocks()

    async def ping(self) -> None:
        """Always answers: the store is this process's memory."""


class _Table(Generic[KeyT, RowT]):
    """Committed rows plus one unit of work's writes, which only ``commit`` applies; every
    write takes the row's lock first."""

    def __init__(self, name: str, committed: dict[KeyT, RowT], hold: _Hold) -> None:
        self._name = name
        self._committed: dict[KeyT, RowT] = committed
        self._hold = hold
        self._added: dict[KeyT, RowT] = {}
        self._updated: dict[KeyT, RowT] = {}
        self._removed: set[KeyT] = set()
        self.over = False

    def get(self, row_id: KeyT) -> RowT | None:
        if self.over:
            raise RuntimeError("this unit of work is over: committed, or left")
        if row_id in self._removed:
            return None
        for rows in (self._updated, self._added, self._committed):
            if row_id in rows:
                return rows[row_id]
        return None

    async def locked(self, row_id: KeyT) -> RowT | None:
        """The row once this unit of work holds its lock; ``None`` (and no lock) if unknown."""
        if self.get(row_id) is None:
            return None
        await self._hold.take((self._name, row_id))
        return self.get(row_id)

    def others_hold(self, row_id: KeyT) -> bool:
        return self._hold.others_hold((self._name, row_id))

    def add(self, row_id: KeyT, row: RowT) -> None:
        if self.get(row_id) is not None:
            raise ports.DuplicateId(str(row_id))
        if row_id in self._removed:  # removed, then added again: a replacement
            self._removed.discard(row_id)
            self._updated[row_id] = row
        else:
            self._added[row_id] = row

    async def update(self, row_id: KeyT, row: RowT) -> None:
        if await self.locked(row_id) is None:
            raise ports.UnknownId(str(row_id))
        self.put(row_id, row)

    def put(self, row_id: KeyT, row: RowT) -> None:
        """Write a row this unit of work holds the lock of."""
        (self._added if row_id in self._added else self._updated)[row_id] = row

    async def remove(self, row_id: KeyT) -> None:
        await self.locked(row_id)
        self._added.pop(row_id, None)
        self._updated.pop(row_id, None)
        if row_id in self._committed:
            self._removed.add(row_id)

    def rows(self) -> list[RowT]:
        return [row for row_id in self._ids() if (row := self.get(row_id)) is not None]

    def free_rows(self) -> list[RowT]:
        """The rows no other unit of work holds the lock of."""
        return [r for i in self._ids() if not self.others_hold(i) and (r := self.get(i))]

    def check(self) -> None:
        """Refuse to commit an add that another unit of work committed first."""
        for row_id in self._added:
            if row_id in self._committed:
                raise ports.DuplicateId(str(row_id))

    def apply(self) -> None:
        self._committed.update(self._added)
        self._committed.update(self._updated)
        for row_id in self._removed:
            self._committed.pop(row_id, None)
        self.end()

    def end(self) -> None:
        self._added.clear()
        self._updated.clear()
        self._removed.clear()
        self.over = True

    def _ids(self) -> list[KeyT]:
        return [*self._committed, *(i for i in self._added if i not in self._committed)]


class InMemoryExportRepository(ports.ExportRepository):
    """Exports of one in-memory unit of work."""

    def __init__(self, table: _Table[UUID, Export]) -> None:
        self._table = table

    async def get(self, export_id: UUID, *, lock: bool = False) -> Export | None:
        return await self._table.locked(export_id) if lock else self._table.get(export_id)

    async def add(self, export: Export) -> None:
        self._table.add(export.id, export)

    async def update(self, export: Export) -> Export:
        stored = await self._table.locked(export.id)
        if stored is None:
            raise ports.UnknownId(str(export.id))
        if stored.version != export.version:
            raise ports.ConcurrentUpdate(str(export.id))
        updated = dataclasses.replace(export, version=export.version + 1)
        self._table.put(export.id, updated)
        return updated

    async def list(self, query: ExportQuery, now: datetime) -> ExportPage:
        found = sorted(
            (e for e in self._table.rows() if query.matches(e, now)),
            key=newest_first,
            reverse=True,
        )
        start = query.page * query.size
        return ExportPage(tuple(found[start : start + query.size]), len(found))

    async def expired(self, now: datetime, limit: int) -> Sequence[Export]:
        found = [
            e
            for e in self._table.rows()
            if e.status is ExportStatus.READY and e.expires_at is not None and e.expires_at <= now
        ]
        return sorted(found, key=lambda e: (e.expires_at, e.id))[:limit]


class InMemoryDeliveryRepository(ports.DeliveryRepository):
    """Deliveries of one in-memory unit of work."""

    def __init__(self, table: _Table[UUID, Delivery]) -> None:
        self._table = table

    async def get(self, delivery_id: UUID, *, lock: bool = False) -> Delivery | None:
        return await self._table.locked(delivery_id) if lock else self._table.get(delivery_id)

    async def add(self, delivery: Delivery) -> None:
        self._table.add(delivery.id, delivery)

    async def update(self, delivery: Delivery) -> None:
        await self._table.update(delivery.id, delivery)

    async def list_for_export(self, export_id: UUID) -> Sequence[Delivery]:
        found = [d for d in self._table.rows() if d.export_id == export_id]
        return sorted(found, key=lambda d: (d.queued_at, d.id))

    async def queued_since(
        self, export_id: UUID, kind: DeliveryKind, since: datetime
    ) -> Sequence[datetime]:
        return sorted(
            d.queued_at
            for d in self._table.rows()
            if d.export_id == export_id and d.kind is kind and d.queued_at > since
        )

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[Delivery]:
        due = sorted(
            (d for d in self._table.free_rows() if d.is_due(now)),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        claimed = [d.claimed(lease_id, now, lease) for d in due[:limit]]
        for delivery in claimed:  # free: taken at once
            await self._table.update(delivery.id, delivery)
        return claimed

    async def backlog(self, now: datetime) -> ports.Backlog:
        waiting = [
            d
            for d in self._table.rows()
            if d.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
        ]
        return _backlog([d.queued_at for d in waiting], sum(d.is_due(now) for d in waiting))


class InMemoryGenerationJobRepository(ports.GenerationJobRepository):
    """Generation jobs of one in-memory unit of work."""

    def __init__(self, table: _Table[UUID, GenerationJob]) -> None:
        self._table = table

    async def get(self, export_id: UUID, *, lock: bool = False) -> GenerationJob | None:
        return await self._table.locked(export_id) if lock else self._table.get(export_id)

    async def add(self, job: GenerationJob) -> None:
        self._table.add(job.export_id, job)

    async def update(self, job: GenerationJob) -> None:
        await self._table.update(job.export_id, job)

    async def remove(self, export_id: UUID) -> None:
        await self._table.remove(export_id)

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[GenerationJob]:
        due = sorted(
            (j for j in self._table.free_rows() if j.is_due(now)),
            key=lambda j: (j.next_attempt_at, j.export_id),
        )
        claimed = [j.claimed(lease_id, now, lease) for j in due[:limit]]
        for job in claimed:  # free: taken at once
            await self._table.update(job.export_id, job)
        return claimed

    async def backlog(self, now: datetime) -> ports.Backlog:
        jobs = self._table.rows()
        return _backlog([j.queued_at for j in jobs], sum(j.is_due(now) for j in jobs))


def _backlog(queued_at: list[datetime], due: int) -> ports.Backlog:
    return ports.Backlog(len(queued_at), due, min(queued_at, default=None))


class InMemoryIdempotencyKeyRepository(ports.IdempotencyKeyRepository):
    """Idempotency keys of one in-memory unit of work."""

    def __init__(self, table: _Table[IdempotencyKey, IdempotencyRecord]) -> None:
        self._table = table

    async def get(self, key: IdempotencyKey, *, lock: bool = False) -> IdempotencyRecord | None:
        return await self._table.locked(key) if lock else self._table.get(key)

    async def add(self, record: IdempotencyRecord) -> None:
        self._table.add(record.key, record)

    async def update(self, record: IdempotencyRecord) -> None:
        await self._table.update(record.key, record)

    async def remove(self, key: IdempotencyKey) -> None:
        await self._table.remove(key)

    async def purge(self, now: datetime, limit: int) -> int:
        due = [r.key for r in self._table.free_rows() if r.expires_at <= now][:limit]
        for key in due:
            await self._table.remove(key)
        return len(due)


class InMemoryUnitOfWork(ports.UnitOfWork):
    """A transaction over an ``InMemoryStore``: writes are applied together on commit, and
    row locks are held until it ends (``RowLocks``).

    Commit is atomic with respect to other units of work on the same event loop, since it
    does not await. Like a database, it refuses to commit an add whose id another unit of
    work committed in the meantime.
    """

    def __init__(self, store: InMemoryStore) -> None:
        self._hold = _Hold(store.locks)
        self._tables = (
            exports := _Table("exports", store.exports, self._hold),
            deliveries := _Table("deliveries", store.deliveries, self._hold),
            jobs := _Table("jobs", store.jobs, self._hold),
            idempotency := _Table("idempotency", store.idempotency, self._hold),
        )
        self.exports = InMemoryExportRepository(exports)
        self.deliveries = InMemoryDeliveryRepository(deliveries)
        self.jobs = InMemoryGenerationJobRepository(jobs)
        self.idempotency = InMemoryIdempotencyKeyRepository(idempotency)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for table in self._tables:
            table.end()
        self._hold.let_go()

    async def commit(self) -> None:
        for table in self._tables:
            table.check()
        for table in self._tables:
            table.apply()
        self._hold.let_go()
