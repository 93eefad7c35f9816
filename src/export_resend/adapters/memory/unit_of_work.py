"""Exports and deliveries in dictionaries, with real commit and rollback."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Generic, Self, TypeVar
from uuid import UUID

from export_resend.application.check_readiness import DatabaseProbe
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
from export_resend.domain.ports import (
    Backlog,
    ConcurrentUpdate,
    DeliveryRepository,
    DuplicateId,
    ExportRepository,
    GenerationJobRepository,
    IdempotencyKeyRepository,
    UnitOfWork,
    UnknownId,
)

KeyT = TypeVar("KeyT", bound=Hashable)
RowT = TypeVar("RowT", Export, Delivery, GenerationJob, IdempotencyRecord)


class InMemoryStore(DatabaseProbe):
    """The committed state, shared by every unit of work made from it."""

    def __init__(self) -> None:
        self.exports: dict[UUID, Export] = {}
        self.deliveries: dict[UUID, Delivery] = {}
        self.jobs: dict[UUID, GenerationJob] = {}
        self.idempotency: dict[IdempotencyKey, IdempotencyRecord] = {}
        self.key_locks: dict[IdempotencyKey, asyncio.Lock] = {}
        """Idempotency keys read with ``lock`` by a unit of work still open."""
        self.key_lock_users: dict[IdempotencyKey, int] = {}
        """How many open units of work hold or wait for each of ``key_locks``: a lock is
        forgotten when none does, or every key ever used would keep one."""
        self.held: set[UUID] = set()
        """Deliveries and jobs claimed or locked by a unit of work that is still open."""

    async def ping(self) -> None:
        """Always answers: the store is this process's memory."""


class _Table(Generic[KeyT, RowT]):
    """Committed rows plus one unit of work's writes, which only ``commit`` applies."""

    def __init__(self, committed: dict[KeyT, RowT]) -> None:
        self._committed: dict[KeyT, RowT] = committed
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

    def add(self, row_id: KeyT, row: RowT) -> None:
        if self.get(row_id) is not None:
            raise DuplicateId(str(row_id))
        if row_id in self._removed:  # removed, then added again: a replacement
            self._removed.discard(row_id)
            self._updated[row_id] = row
        else:
            self._added[row_id] = row

    def remove(self, row_id: KeyT) -> None:
        self._added.pop(row_id, None)
        self._updated.pop(row_id, None)
        if row_id in self._committed:
            self._removed.add(row_id)

    def update(self, row_id: KeyT, row: RowT) -> None:
        if self.get(row_id) is None:
            raise UnknownId(str(row_id))
        (self._added if row_id in self._added else self._updated)[row_id] = row

    def rows(self) -> list[RowT]:
        return [row for row_id in self._ids() if (row := self.get(row_id)) is not None]

    def check(self) -> None:
        """Refuse to commit an add that another unit of work committed first."""
        for row_id in self._added:
            if row_id in self._committed:
                raise DuplicateId(str(row_id))

    def apply(self) -> None:
        self._committed.update(self._added)
        self._committed.update(self._updated)
        for row_id in self._removed:
            self._committed.pop(row_id, None)
        self.discard()

    def discard(self) -> None:
        self._added.clear()
        self._updated.clear()
        self._removed.clear()

    def _ids(self) -> list[KeyT]:
        return [*self._committed, *(i for i in self._added if i not in self._committed)]


class InMemoryExportRepository(ExportRepository):
    """Exports of one in-memory unit of work.

    ``lock`` needs no lock here: nothing else runs between two awaits of one event loop,
    and commit re-checks the versions that ``update`` saw.
    """

    def __init__(self, table: _Table[UUID, Export], committed: dict[UUID, Export]) -> None:
        self._table = table
        self._committed = committed
        self._read_versions: dict[UUID, int] = {}

    async def get(self, export_id: UUID, *, lock: bool = False) -> Export | None:
        return self._table.get(export_id)

    async def add(self, export: Export) -> None:
        self._table.add(export.id, export)

    async def update(self, export: Export) -> Export:
        stored = self._table.get(export.id)
        if stored is None:
            raise UnknownId(str(export.id))
        if stored.version != export.version:
            raise ConcurrentUpdate(str(export.id))
        self._read_versions.setdefault(export.id, export.version)
        updated = dataclasses.replace(export, version=export.version + 1)
        self._table.update(export.id, updated)
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

    def check(self) -> None:
        """Refuse to commit an update whose export another unit of work updated first."""
        for export_id, version in self._read_versions.items():
            if export_id in self._committed and self._committed[export_id].version != version:
                raise ConcurrentUpdate(str(export_id))

    def discard(self) -> None:
        self._read_versions.clear()


class InMemoryDeliveryRepository(DeliveryRepository):
    """Deliveries of one in-memory unit of work.

    What it claims or reads with ``lock`` is held in the store until the unit of work
    ends, and other units of work's claims skip it.
    """

    def __init__(self, table: _Table[UUID, Delivery], held: set[UUID]) -> None:
        self._table = table
        self._held = held
        self._holding: set[UUID] = set()

    async def get(self, delivery_id: UUID, *, lock: bool = False) -> Delivery | None:
        found = self._table.get(delivery_id)
        if lock and found is not None:
            self._hold(delivery_id)
        return found

    async def add(self, delivery: Delivery) -> None:
        self._table.add(delivery.id, delivery)

    async def update(self, delivery: Delivery) -> None:
        self._table.update(delivery.id, delivery)

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
        others = self._held - self._holding
        due = sorted(
            (d for d in self._table.rows() if d.is_due(now) and d.id not in others),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        claimed = [d.claimed(lease_id, now, lease) for d in due[:limit]]
        for delivery in claimed:
            self._table.update(delivery.id, delivery)
            self._hold(delivery.id)
        return claimed

    def let_go(self) -> None:
        """The unit of work is over: what it held may be claimed by others."""
        self._held.difference_update(self._holding)
        self._holding.clear()

    def _hold(self, delivery_id: UUID) -> None:
        self._holding.add(delivery_id)
        self._held.add(delivery_id)

    async def backlog(self, now: datetime) -> Backlog:
        waiting = [
            d
            for d in self._table.rows()
            if d.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
        ]
        return _backlog([d.queued_at for d in waiting], sum(d.is_due(now) for d in waiting))


class InMemoryGenerationJobRepository(GenerationJobRepository):
    """Generation jobs of one in-memory unit of work; claims are held like deliveries'."""

    def __init__(self, table: _Table[UUID, GenerationJob], held: set[UUID]) -> None:
        self._table = table
        self._held = held
        self._holding: set[UUID] = set()

    async def get(self, export_id: UUID, *, lock: bool = False) -> GenerationJob | None:
        found = self._table.get(export_id)
        if lock and found is not None:
            self._hold(export_id)
        return found

    async def add(self, job: GenerationJob) -> None:
        self._table.add(job.export_id, job)

    async def update(self, job: GenerationJob) -> None:
        self._table.update(job.export_id, job)

    async def remove(self, export_id: UUID) -> None:
        self._table.remove(export_id)

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[GenerationJob]:
        others = self._held - self._holding
        due = sorted(
            (j for j in self._table.rows() if j.is_due(now) and j.export_id not in others),
            key=lambda j: (j.next_attempt_at, j.export_id),
        )
        claimed = [j.claimed(lease_id, now, lease) for j in due[:limit]]
        for job in claimed:
            self._table.update(job.export_id, job)
            self._hold(job.export_id)
        return claimed

    def let_go(self) -> None:
        """The unit of work is over: what it held may be claimed by others."""
        self._held.difference_update(self._holding)
        self._holding.clear()

    def _hold(self, export_id: UUID) -> None:
        self._holding.add(export_id)
        self._held.add(export_id)

    async def backlog(self, now: datetime) -> Backlog:
        jobs = self._table.rows()
        return _backlog([j.queued_at for j in jobs], sum(j.is_due(now) for j in jobs))


def _backlog(queued_at: list[datetime], due: int) -> Backlog:
    return Backlog(len(queued_at), due, min(queued_at, default=None))


class InMemoryIdempotencyKeyRepository(IdempotencyKeyRepository):
    """Idempotency keys of one in-memory unit of work. ``get(lock=True)`` waits while another
    open unit of work holds the key, and holds it until this one ends; of two units of work
    adding one key, the second to commit is refused."""

    def __init__(
        self,
        table: _Table[IdempotencyKey, IdempotencyRecord],
        locks: dict[IdempotencyKey, asyncio.Lock],
        users: dict[IdempotencyKey, int],
    ) -> None:
        self._table = table
        self._locks = locks
        self._users = users
        self._holding: list[IdempotencyKey] = []

    async def get(self, key: IdempotencyKey, *, lock: bool = False) -> IdempotencyRecord | None:
        if lock and key not in self._holding:
            key_lock = self._locks.setdefault(key, asyncio.Lock())
            self._users[key] = self._users.get(key, 0) + 1
            try:
                await key_lock.acquire()
            except BaseException:  # cancelled while waiting
                self._done_with(key)
                raise
            self._holding.append(key)
        return self._table.get(key)

    def _done_with(self, key: IdempotencyKey) -> None:
        self._users[key] -= 1
        if not self._users[key]:
            del self._users[key], self._locks[key]

    def let_go(self) -> None:
        """The unit of work is over: other units of work may lock what it held."""
        for key in self._holding:
            self._locks[key].release()
            self._done_with(key)
        self._holding.clear()

    async def add(self, record: IdempotencyRecord) -> None:
        self._table.add(record.key, record)

    async def update(self, record: IdempotencyRecord) -> None:
        self._table.update(record.key, record)

    async def remove(self, key: IdempotencyKey) -> None:
        self._table.remove(key)

    async def purge(self, now: datetime, limit: int) -> int:
        due = [r.key for r in self._table.rows() if r.expires_at <= now][:limit]
        for key in due:
            self._table.remove(key)
        return len(due)


class InMemoryUnitOfWork(UnitOfWork):
    """A transaction over an ``InMemoryStore``: writes are applied together on commit.

    Commit is atomic with respect to other units of work on the same event loop, since it
    does not await. Like a database, it refuses to commit an add whose id another unit of
    work committed in the meantime; updates are last-writer-wins.
    """

    def __init__(self, store: InMemoryStore) -> None:
        self._exports = _Table(store.exports)
        self._deliveries = _Table(store.deliveries)
        self._jobs = _Table(store.jobs)
        self._idempotency = _Table(store.idempotency)
        self.exports = InMemoryExportRepository(self._exports, store.exports)
        self.deliveries = InMemoryDeliveryRepository(self._deliveries, store.held)
        self.jobs = InMemoryGenerationJobRepository(self._jobs, store.held)
        self.idempotency = InMemoryIdempotencyKeyRepository(
            self._idempotency, store.key_locks, store.key_lock_users
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exports.discard()
        self._deliveries.discard()
        self._jobs.discard()
        self._idempotency.discard()
        self.exports.discard()
        self.deliveries.let_go()
        self.jobs.let_go()
        self.idempotency.let_go()
        self._over()

    async def commit(self) -> None:
        self.exports.check()
        self._exports.check()
        self._deliveries.check()
        self._jobs.check()
        self._idempotency.check()
        self._exports.apply()
        self._deliveries.apply()
        self._jobs.apply()
        self._idempotency.apply()
        self.exports.discard()
        self.deliveries.let_go()
        self.jobs.let_go()
        self.idempotency.let_go()
        self._over()

    def _over(self) -> None:
        for table in (self._exports, self._deliveries, self._jobs, self._idempotency):
            table.over = True
