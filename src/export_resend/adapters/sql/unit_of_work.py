"""Exports and deliveries in SQL, one transaction per unit of work."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from export_resend.adapters.sql.connections import reachable
from export_resend.adapters.sql.rows import (
    delivery_from,
    delivery_values,
    export_from,
    export_values,
    idempotency_from,
    idempotency_values,
    job_from,
    job_values,
)
from export_resend.adapters.sql.schema import (
    deliveries,
    exports,
    generation_jobs,
    idempotency_keys,
)
from export_resend.domain.delivery import Delivery, DeliveryKind, DeliveryStatus
from export_resend.domain.export import Export, ExportPage, ExportQuery, ExportStatus
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

_SQLITE_BUSY = 5
SQLITE_BEGIN = "export_resend_sqlite_begin"
"""Execution option naming how a SQLite transaction begins: IMMEDIATE (default) or DEFERRED."""


# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every call.
_EXPORT = select(exports).where(exports.c.id == bindparam("match_id"))
_EXPORT_EXCLUSIVE = _EXPORT.with_for_update()
_EXPORT_EXISTS = select(exports.c.id).where(exports.c.id == bindparam("match_id"))
_ADD_EXPORT = exports.insert()
_UPDATE_EXPORT = exports.update().where(
    exports.c.id == bindparam("match_id"), exports.c.version == bindparam("match_version")
)
_EXPIRED_EXPORTS = (
    select(exports)
    .where(
        exports.c.status == ExportStatus.READY.value,
        exports.c.expires_at <= bindparam("now"),
    )
    .order_by(exports.c.expires_at, exports.c.id)
    .limit(bindparam("limit"))
)
_DELIVERY = select(deliveries).where(deliveries.c.id == bindparam("match_id"))
_DELIVERY_EXCLUSIVE = _DELIVERY.with_for_update()
_ADD_DELIVERY = deliveries.insert()
_UPDATE_DELIVERY = deliveries.update().where(deliveries.c.id == bindparam("match_id"))
_DUE_DELIVERIES = (
    select(deliveries)
    .where(
        deliveries.c.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]),
        deliveries.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    .limit(bindparam("limit"))
)
_DUE_DELIVERIES_SKIP_LOCKED = _DUE_DELIVERIES.with_for_update(skip_locked=True)
_CLAIM_DELIVERIES = (
    deliveries.update()
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=DeliveryStatus.SENDING.value,
        next_attempt_at=bindparam("lease_end"),
        lease_id=bindparam("lease_id"),
    )
)
_DELIVERIES_OF_EXPORT = (
    select(deliveries)
    .where(deliveries.c.export_id == bindparam("match_id"))
    .order_by(deliveries.c.queued_at, deliveries.c.id)
)

_RESENDS_SINCE = (
    select(deliveries.c.queued_at)
    .where(
        deliveries.c.export_id == bindparam("match_id"),
        deliveries.c.kind == bindparam("kind"),
        deliveries.c.queued_at > bindparam("since"),
    )
    .order_by(deliveries.c.queued_at)
)
_IDEMPOTENCY_MATCH = and_(
    idempotency_keys.c.scope == bindparam("match_scope"),
    idempotency_keys.c.request == bindparam("match_request"),
    idempotency_keys.c.key == bindparam("match_key"),
)
_IDEMPOTENCY = select(idempotency_keys).where(_IDEMPOTENCY_MATCH)
_IDEMPOTENCY_EXCLUSIVE = _IDEMPOTENCY.with_for_update()
_ADD_IDEMPOTENCY = idempotency_keys.insert()
_UPDATE_IDEMPOTENCY = idempotency_keys.update().where(_IDEMPOTENCY_MATCH)
_REMOVE_IDEMPOTENCY = idempotency_keys.delete().where(_IDEMPOTENCY_MATCH)
_IDEMPOTENCY_ID = tuple_(
    idempotency_keys.c.scope, idempotency_keys.c.request, idempotency_keys.c.key
)
_PURGE_IDEMPOTENCY = idempotency_keys.delete().where(
    _IDEMPOTENCY_ID.in_(
        select(idempotency_keys.c.scope, idempotency_keys.c.request, idempotency_keys.c.key)
        .where(idempotency_keys.c.expires_at <= bindparam("now"))
        .order_by(idempotency_keys.c.expires_at)
        .limit(bindparam("limit"))
    )
)

_JOB = select(generation_jobs).where(generation_jobs.c.export_id == bindparam("match_id"))
_JOB_EXCLUSIVE = _JOB.with_for_update()
_ADD_JOB = generation_jobs.insert()
_UPDATE_JOB = generation_jobs.update().where(generation_jobs.c.export_id == bindparam("match_id"))
_REMOVE_JOB = generation_jobs.delete().where(generation_jobs.c.export_id == bindparam("match_id"))
_DUE_JOBS = (
    select(generation_jobs)
    .where(generation_jobs.c.next_attempt_at <= bindparam("now"))
    .order_by(generation_jobs.c.next_attempt_at, generation_jobs.c.export_id)
    .limit(bindparam("limit"))
)
_DUE_JOBS_SKIP_LOCKED = _DUE_JOBS.with_for_update(skip_locked=True)
_CLAIM_JOBS = (
    generation_jobs.update()
    .where(generation_jobs.c.export_id.in_(bindparam("ids", expanding=True)))
    .values(
        next_attempt_at=bindparam("lease_end"),
        lease_id=bindparam("lease_id"),
        attempts=generation_jobs.c.attempts + 1,
    )
)


def _status_is(status: ExportStatus, now: datetime) -> ColumnElement[bool]:
    """The effective-status condition: READY from ``expires_at`` on counts as EXPIRED."""
    ready = exports.c.status == ExportStatus.READY.value
    if status is ExportStatus.READY:
        return and_(ready, exports.c.expires_at > now)
    if status is ExportStatus.EXPIRED:
        return or_(
            exports.c.status == ExportStatus.EXPIRED.value,
            and_(ready, exports.c.expires_at <= now),
        )
    return exports.c.status == status.value


class _Transaction:
    """The connection of one unit of work, which begins its transaction on first use.

    On SQLite the first statement decides: a write, or a read with ``lock``, begins
    IMMEDIATE (the write lock, taken before anything is read); a plain read begins DEFERRED.
    Writers first queue on ``writers`` (one per database, in this process), so that they wait
    their turn in order instead of in SQLite's busy handler, which sleeps and polls.
    """

    def __init__(self, connection: AsyncConnection, writers: asyncio.Lock | None) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self._writers = writers
        self.holds_writers = False
        self.over = False

    def release_writers(self) -> None:
        """Let the next writer in, if this transaction was holding the queue."""
        if self.holds_writers and self._writers is not None:
            self.holds_writers = False
            self._writers.release()

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None, *, writes: bool
    ) -> CursorResult[Any]:
        if self.over:
            raise RuntimeError("this unit of work is over: committed, or left")
        if not self.connection.in_transaction() and self.connection.dialect.name == "sqlite":
            if writes and self._writers is not None:
                await self._writers.acquire()
                self.holds_writers = True
            await self.connection.execution_options(
                **{SQLITE_BEGIN: "IMMEDIATE" if writes else "DEFERRED"}
            )
        try:
            return await self.connection.execute(statement, parameters)
        except OperationalError as exc:
            # SQLite refuses a write from a read snapshot that another writer has overtaken
            if writes and getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY:
                raise ConcurrentUpdate(str(exc.orig)) from exc
            raise


class SqlAlchemyExportRepository(ExportRepository):
    """Exports on one connection, in its transaction."""

    def __init__(self, transaction: _Transaction) -> None:
        self._transaction = transaction

    async def get(self, export_id: UUID, *, lock: bool = False) -> Export | None:
        query = _EXPORT_EXCLUSIVE if lock and self._transaction.postgresql else _EXPORT
        result = await self._transaction.execute(query, {"match_id": export_id}, writes=lock)
        row = result.mappings().first()
        return None if row is None else export_from(row)

    async def add(self, export: Export) -> None:
        try:
            await self._transaction.execute(_ADD_EXPORT, export_values(export), writes=True)
        except IntegrityError as exc:
            raise DuplicateId(str(export.id)) from exc

    async def update(self, export: Export) -> Export:
        updated = dataclasses.replace(export, version=export.version + 1)
        match = {"match_id": export.id, "match_version": export.version}
        result = await self._transaction.execute(
            _UPDATE_EXPORT, {**export_values(updated), **match}, writes=True
        )
        if result.rowcount == 1:
            return updated
        found = await self._transaction.execute(
            _EXPORT_EXISTS, {"match_id": export.id}, writes=True
        )
        raise (ConcurrentUpdate if found.first() else UnknownId)(str(export.id))

    async def list(self, query: ExportQuery, now: datetime) -> ExportPage:
        conditions = [exports.c.tenant_id == query.tenant_id, exports.c.owner_id == query.owner_id]
        if query.type is not None:
            conditions.append(exports.c.type == query.type.value)
        if query.status is not None:
            conditions.append(_status_is(query.status, now))
        page = (
            select(exports)
            .where(*conditions)
            .order_by(exports.c.requested_at.desc(), exports.c.id.desc())
            .limit(query.size)
            .offset(query.page * query.size)
        )
        rows = (await self._transaction.execute(page, writes=False)).mappings().all()
        count = select(func.count()).select_from(exports).where(*conditions)
        total = (await self._transaction.execute(count, writes=False)).scalar_one()
        return ExportPage(tuple(export_from(row) for row in rows), total)

    async def expired(self, now: datetime, limit: int) -> Sequence[Export]:
        result = await self._transaction.execute(
            _EXPIRED_EXPORTS, {"now": now, "limit": limit}, writes=False
        )
        return [export_from(row) for row in result.mappings()]


_DELIVERY_BACKLOG = select(
    func.count().label("waiting"),
    func.count(case((deliveries.c.next_attempt_at <= bindparam("now"), 1))).label("due"),
    func.min(deliveries.c.queued_at).label("oldest"),
).where(deliveries.c.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]))
_JOB_BACKLOG = select(
    func.count().label("waiting"),
    func.count(case((generation_jobs.c.next_attempt_at <= bindparam("now"), 1))).label("due"),
    func.min(generation_jobs.c.queued_at).label("oldest"),
)


async def _backlog(transaction: _Transaction, query: Executable, now: datetime) -> Backlog:
    row = (await transaction.execute(query, {"now": now}, writes=False)).mappings().one()
    return Backlog(row["waiting"], row["due"], row["oldest"])


class SqlAlchemyDeliveryRepository(DeliveryRepository):
    """Deliveries on one connection, in its transaction."""

    def __init__(self, transaction: _Transaction) -> None:
        self._transaction = transaction

    async def get(self, delivery_id: UUID, *, lock: bool = False) -> Delivery | None:
        query = _DELIVERY_EXCLUSIVE if lock and self._transaction.postgresql else _DELIVERY
        result = await self._transaction.execute(query, {"match_id": delivery_id}, writes=lock)
        row = result.mappings().first()
        return None if row is None else delivery_from(row)

    async def add(self, delivery: Delivery) -> None:
        try:
            await self._transaction.execute(_ADD_DELIVERY, delivery_values(delivery), writes=True)
        except IntegrityError as exc:
            raise DuplicateId(str(delivery.id)) from exc

    async def update(self, delivery: Delivery) -> None:
        result = await self._transaction.execute(
            _UPDATE_DELIVERY,
            {**delivery_values(delivery), "match_id": delivery.id},
            writes=True,
        )
        if result.rowcount != 1:
            raise UnknownId(str(delivery.id))

    async def list_for_export(self, export_id: UUID) -> Sequence[Delivery]:
        result = await self._transaction.execute(
            _DELIVERIES_OF_EXPORT, {"match_id": export_id}, writes=False
        )
        return [delivery_from(row) for row in result.mappings()]

    async def queued_since(
        self, export_id: UUID, kind: DeliveryKind, since: datetime
    ) -> Sequence[datetime]:
        result = await self._transaction.execute(
            _RESENDS_SINCE,
            {"match_id": export_id, "kind": kind.value, "since": since},
            writes=False,
        )
        return list(result.scalars())

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[Delivery]:
        # SQLite: the IMMEDIATE transaction holds the write lock from the select on, so no
        # other claim reads these rows before this one commits; PostgreSQL: SKIP LOCKED
        query = _DUE_DELIVERIES_SKIP_LOCKED if self._transaction.postgresql else _DUE_DELIVERIES
        result = await self._transaction.execute(query, {"now": now, "limit": limit}, writes=True)
        claimed = [delivery_from(row).claimed(lease_id, now, lease) for row in result.mappings()]
        if claimed:
            await self._transaction.execute(
                _CLAIM_DELIVERIES,
                {"ids": [d.id for d in claimed], "lease_end": now + lease, "lease_id": lease_id},
                writes=True,
            )
        return claimed

    async def backlog(self, now: datetime) -> Backlog:
        return await _backlog(self._transaction, _DELIVERY_BACKLOG, now)


class SqlAlchemyGenerationJobRepository(GenerationJobRepository):
    """Generation jobs on one connection, in its transaction."""

    def __init__(self, transaction: _Transaction) -> None:
        self._transaction = transaction

    async def get(self, export_id: UUID, *, lock: bool = False) -> GenerationJob | None:
        query = _JOB_EXCLUSIVE if lock and self._transaction.postgresql else _JOB
        result = await self._transaction.execute(query, {"match_id": export_id}, writes=lock)
        row = result.mappings().first()
        return None if row is None else job_from(row)

    async def add(self, job: GenerationJob) -> None:
        try:
            await self._transaction.execute(_ADD_JOB, job_values(job), writes=True)
        except IntegrityError as exc:
            raise DuplicateId(str(job.export_id)) from exc

    async def update(self, job: GenerationJob) -> None:
        result = await self._transaction.execute(
            _UPDATE_JOB, {**job_values(job), "match_id": job.export_id}, writes=True
        )
        if result.rowcount != 1:
            raise UnknownId(str(job.export_id))

    async def remove(self, export_id: UUID) -> None:
        await self._transaction.execute(_REMOVE_JOB, {"match_id": export_id}, writes=True)

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[GenerationJob]:
        query = _DUE_JOBS_SKIP_LOCKED if self._transaction.postgresql else _DUE_JOBS
        result = await self._transaction.execute(query, {"now": now, "limit": limit}, writes=True)
        claimed = [job_from(row).claimed(lease_id, now, lease) for row in result.mappings()]
        if claimed:
            await self._transaction.execute(
                _CLAIM_JOBS,
                {
                    "ids": [j.export_id for j in claimed],
                    "lease_end": now + lease,
                    "lease_id": lease_id,
                },
                writes=True,
            )
        return claimed

    async def backlog(self, now: datetime) -> Backlog:
        return await _backlog(self._transaction, _JOB_BACKLOG, now)


def _match(key: IdempotencyKey) -> dict[str, str]:
    return {"match_scope": key.scope, "match_request": key.request, "match_key": key.value}


class SqlAlchemyIdempotencyKeyRepository(IdempotencyKeyRepository):
    """Idempotency keys on one connection, in its transaction."""

    def __init__(self, transaction: _Transaction) -> None:
        self._transaction = transaction

    async def get(self, key: IdempotencyKey, *, lock: bool = False) -> IdempotencyRecord | None:
        query = _IDEMPOTENCY_EXCLUSIVE if lock and self._transaction.postgresql else _IDEMPOTENCY
        result = await self._transaction.execute(query, _match(key), writes=lock)
        row = result.mappings().first()
        return None if row is None else idempotency_from(row)

    async def add(self, record: IdempotencyRecord) -> None:
        try:
            await self._transaction.execute(
                _ADD_IDEMPOTENCY, idempotency_values(record), writes=True
            )
        except IntegrityError as exc:
            raise DuplicateId(record.key.value) from exc

    async def update(self, record: IdempotencyRecord) -> None:
        result = await self._transaction.execute(
            _UPDATE_IDEMPOTENCY,
            {**idempotency_values(record), **_match(record.key)},
            writes=True,
        )
        if result.rowcount != 1:
            raise UnknownId(record.key.value)

    async def remove(self, key: IdempotencyKey) -> None:
        await self._transaction.execute(_REMOVE_IDEMPOTENCY, _match(key), writes=True)

    async def purge(self, now: datetime, limit: int) -> int:
        result = await self._transaction.execute(
            _PURGE_IDEMPOTENCY, {"now": now, "limit": limit}, writes=True
        )
        return result.rowcount


class SqlAlchemyUnitOfWork(UnitOfWork):
    """One connection and one transaction from ``engine``, for the length of an ``async with``.

    On SQLite, give every unit of work of one database the same ``writers`` lock.
    ``joining(connection)`` makes one inside a host's own transaction instead.
    """

    exports: SqlAlchemyExportRepository
    deliveries: SqlAlchemyDeliveryRepository
    jobs: SqlAlchemyGenerationJobRepository
    idempotency: SqlAlchemyIdempotencyKeyRepository

    def __init__(
        self,
        engine: AsyncEngine | None = None,
        writers: asyncio.Lock | None = None,
        *,
        joining: AsyncConnection | None = None,
    ) -> None:
        if (engine is None) == (joining is None):
            raise TypeError("give an engine, or a connection to join")
        self._engine = engine
        self._writers = writers
        self._joined = joining
        self._savepoint: AsyncTransaction | None = None
        self._connection: AsyncConnection | None = None
        self._transaction: _Transaction | None = None

    @classmethod
    def joining(cls, connection: AsyncConnection) -> SqlAlchemyUnitOfWork:
        """A unit of work inside ``connection``'s transaction, which its owner commits or
        rolls back: ours is a SAVEPOINT in it, released by ``commit()`` and rolled back on
        leaving without one. The connection is never closed here."""
        return cls(joining=connection)

    async def __aenter__(self) -> Self:
        if self._joined is not None:
            connection = self._joined
            self._savepoint = await connection.begin_nested()
        elif self._engine is not None:
            with reachable():
                connection = await self._engine.connect()
        else:
            raise TypeError("give an engine, or a connection to join")
        self._connection = connection
        transaction = self._transaction = _Transaction(connection, self._writers)
        self.exports = SqlAlchemyExportRepository(transaction)
        self.deliveries = SqlAlchemyDeliveryRepository(transaction)
        self.jobs = SqlAlchemyGenerationJobRepository(transaction)
        self.idempotency = SqlAlchemyIdempotencyKeyRepository(transaction)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        transaction, self._transaction = self._transaction, None
        savepoint, self._savepoint = self._savepoint, None
        if connection is None:
            return
        if savepoint is not None:
            if transaction is not None:
                transaction.over = True
            if savepoint.is_active:
                await savepoint.rollback()
            return
        try:
            try:
                if connection.in_transaction():
                    await connection.rollback()
            finally:
                await connection.close()
        finally:  # whatever happened above, the next writer must get its turn
            if transaction is not None:
                transaction.over = True
                transaction.release_writers()

    async def commit(self) -> None:
        if self._connection is None:
            raise RuntimeError("commit() outside 'async with'")
        try:
            if self._savepoint is not None:
                await self._savepoint.commit()
            else:
                await self._connection.commit()
        except IntegrityError as exc:
            raise DuplicateId(str(exc.orig)) from exc
        if self._transaction is not None:
            self._transaction.over = True
            self._transaction.release_writers()


__all__ = [
    "SqlAlchemyDeliveryRepository",
    "SqlAlchemyExportRepository",
    "SqlAlchemyGenerationJobRepository",
    "SqlAlchemyIdempotencyKeyRepository",
    "SqlAlchemyUnitOfWork",
]
