"""The unit of work on PostgreSQL, on asyncpg itself: the service's hot path.

A connection comes from the SQLAlchemy engine's pool, and its transaction and statements run
on the asyncpg driver connection underneath: fixed SQL (built once from the tables in
``schema.py``), prepared and cached by asyncpg per connection. SQLAlchemy's statement
machinery costs more CPU per request than the rest of the request put together
(docs/performance.md); this keeps SQLAlchemy for the pool, the schema and the migrations.
The same contract suites and state machine run against this and the SQLAlchemy path.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import asyncpg
from asyncpg.transaction import Transaction
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
from export_resend.domain.delivery import Delivery, DeliveryKind
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

_JSON_COLUMNS = {"cc", "results", "filters", "result"}


class _Sql:
    """Column order and statements of one table, with values in that order."""

    def __init__(self, table: Table, key: str = "id") -> None:
        self.columns = [column.name for column in table.columns]
        names = ", ".join(self.columns)
        places = ", ".join(f"${i}" for i in range(1, len(self.columns) + 1))
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(self.columns, 1))
        after = len(self.columns)
        self.select = f"SELECT {names} FROM {table.name}"
        self.by_id = f"{self.select} WHERE {key} = $1"
        self.insert = f"INSERT INTO {table.name} ({names}) VALUES ({places})"
        self.update = f"UPDATE {table.name} SET {sets} WHERE {key} = ${after + 1}"

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [
            json.dumps(values[name]) if name in _JSON_COLUMNS else values[name]
            for name in self.columns
        ]


_EXPORTS = _Sql(exports)
_DELIVERIES = _Sql(deliveries)
_JOBS = _Sql(generation_jobs, key="export_id")
_IDEMPOTENCY = _Sql(idempotency_keys)
_IDEMPOTENCY_MATCH = "scope = $1 AND request = $2 AND key = $3"
_IDEMPOTENCY_BY_KEY = f"{_IDEMPOTENCY.select} WHERE {_IDEMPOTENCY_MATCH}"
_IDEMPOTENCY_SETS = ", ".join(f"{name} = ${i}" for i, name in enumerate(_IDEMPOTENCY.columns, 4))
_IDEMPOTENCY_UPDATE = f"UPDATE idempotency_keys SET {_IDEMPOTENCY_SETS} WHERE {_IDEMPOTENCY_MATCH}"
_IDEMPOTENCY_PURGE = """
DELETE FROM idempotency_keys WHERE (scope, request, key) IN (
    SELECT scope, request, key FROM idempotency_keys WHERE expires_at <= $1
    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""
_UPDATE_EXPORT = f"{_EXPORTS.update} AND version = ${len(_EXPORTS.columns) + 2}"
_RETURNING = ", ".join(f"d.{name}" for name in _DELIVERIES.columns)
_CLAIM_DELIVERIES = f"""
WITH due AS (
    SELECT id, next_attempt_at AS was_due FROM deliveries
    WHERE status IN ('QUEUED', 'SENDING') AND next_attempt_at <= $1
    ORDER BY next_attempt_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET status = 'SENDING', next_attempt_at = $3, lease_id = $4
FROM due WHERE d.id = due.id
RETURNING {_RETURNING}, due.was_due
"""
_JOB_RETURNING = ", ".join(f"j.{name}" for name in _JOBS.columns)
_CLAIM_JOBS = f"""
WITH due AS (
    SELECT export_id, next_attempt_at AS was_due FROM generation_jobs
    WHERE next_attempt_at <= $1
    ORDER BY next_attempt_at, export_id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE generation_jobs j SET next_attempt_at = $3, lease_id = $4, attempts = j.attempts + 1
FROM due WHERE j.export_id = due.export_id
RETURNING {_JOB_RETURNING}, due.was_due
"""


def _record(row: asyncpg.Record) -> dict[str, Any]:
    # asyncpg's UUID is its own class; the domain compares with the standard one
    return {k: UUID(bytes=v.bytes) if isinstance(v, UUID) else v for k, v in row.items()}


class AsyncpgExportRepository(ExportRepository):
    """Exports on one asyncpg connection, in its transaction."""

    def __init__(self, connection: _Guarded) -> None:
        self._connection = connection

    async def get(self, export_id: UUID, *, lock: bool = False) -> Export | None:
        query = f"{_EXPORTS.by_id} FOR UPDATE" if lock else _EXPORTS.by_id
        row = await self._connection.fetchrow(query, export_id)
        return None if row is None else export_from(_record(row))

    async def add(self, export: Export) -> None:
        try:
            await self._connection.execute(
                _EXPORTS.insert, *_EXPORTS.arguments(export_values(export))
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise DuplicateId(str(export.id)) from exc

    async def update(self, export: Export) -> Export:
        updated = dataclasses.replace(export, version=export.version + 1)
        arguments = _EXPORTS.arguments(export_values(updated))
        status = await self._connection.execute(
            _UPDATE_EXPORT, *arguments, export.id, export.version
        )
        if status == "UPDATE 1":
            return updated
        exists = await self._connection.fetchval("SELECT 1 FROM exports WHERE id = $1", export.id)
        raise (ConcurrentUpdate if exists else UnknownId)(str(export.id))

    async def list(self, query: ExportQuery, now: datetime) -> ExportPage:
        conditions = ["tenant_id = $1", "owner_id = $2"]
        arguments: list[Any] = [query.tenant_id, query.owner_id]
        if query.type is not None:
            arguments.append(query.type.value)
            conditions.append(f"type = ${len(arguments)}")
        if query.status in (ExportStatus.READY, ExportStatus.EXPIRED):
            arguments.append(now)  # the effective status: READY from expires_at on is EXPIRED
            at = f"${len(arguments)}"
            conditions.append(
                f"status = 'READY' AND expires_at > {at}"
                if query.status is ExportStatus.READY
                else f"(status = 'EXPIRED' OR (status = 'READY' AND expires_at <= {at}))"
            )
        elif query.status is not None:
            arguments.append(query.status.value)
            conditions.append(f"status = ${len(arguments)}")
        where = " AND ".join(conditions)
        count = len(arguments)
        rows = await self._connection.fetch(
            f"{_EXPORTS.select} WHERE {where} ORDER BY requested_at DESC, id DESC "
            f"LIMIT ${count + 1} OFFSET ${count + 2}",
            *arguments,
            query.size,
            query.page * query.size,
        )
        total = await self._connection.fetchval(
            f"SELECT count(*) FROM exports WHERE {where}", *arguments
        )
        return ExportPage(tuple(export_from(_record(row)) for row in rows), total)

    async def expired(self, now: datetime, limit: int) -> Sequence[Export]:
        rows = await self._connection.fetch(
            f"{_EXPORTS.select} WHERE status = 'READY' AND expires_at <= $1 "
            "ORDER BY expires_at, id LIMIT $2",
            now,
            limit,
        )
        return [export_from(_record(row)) for row in rows]


_DELIVERY_BACKLOG = """
SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= $1), min(queued_at)
FROM deliveries WHERE status IN ('QUEUED', 'SENDING')
"""
_JOB_BACKLOG = """
SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= $1), min(queued_at)
FROM generation_jobs
"""


class AsyncpgDeliveryRepository(DeliveryRepository):
    """Deliveries on one asyncpg connection, in its transaction."""

    def __init__(self, connection: _Guarded) -> None:
        self._connection = connection

    async def get(self, delivery_id: UUID, *, lock: bool = False) -> Delivery | None:
        query = f"{_DELIVERIES.by_id} FOR UPDATE" if lock else _DELIVERIES.by_id
        row = await self._connection.fetchrow(query, delivery_id)
        return None if row is None else delivery_from(_record(row))

    async def add(self, delivery: Delivery) -> None:
        arguments = _DELIVERIES.arguments(delivery_values(delivery))
        try:
            await self._connection.execute(_DELIVERIES.insert, *arguments)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise DuplicateId(str(delivery.id)) from exc

    async def update(self, delivery: Delivery) -> None:
        arguments = _DELIVERIES.arguments(delivery_values(delivery))
        status = await self._connection.execute(_DELIVERIES.update, *arguments, delivery.id)
        if status != "UPDATE 1":
            raise UnknownId(str(delivery.id))

    async def list_for_export(self, export_id: UUID) -> Sequence[Delivery]:
        rows = await self._connection.fetch(
            f"{_DELIVERIES.select} WHERE export_id = $1 ORDER BY queued_at, id", export_id
        )
        return [delivery_from(_record(row)) for row in rows]

    async def queued_since(
        self, export_id: UUID, kind: DeliveryKind, since: datetime
    ) -> Sequence[datetime]:
        rows = await self._connection.fetch(
            "SELECT queued_at FROM deliveries WHERE export_id = $1 AND kind = $2"
            " AND queued_at > $3 ORDER BY queued_at",
            export_id,
            kind.value,
            since,
        )
        return [row["queued_at"] for row in rows]

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[Delivery]:
        rows = await self._connection.fetch(_CLAIM_DELIVERIES, now, limit, now + lease, lease_id)
        ordered = sorted((_record(row) for row in rows), key=lambda r: (r["was_due"], r["id"]))
        return [delivery_from(row) for row in ordered]

    async def backlog(self, now: datetime) -> Backlog:
        return await _backlog(self._connection, _DELIVERY_BACKLOG, now)


class AsyncpgGenerationJobRepository(GenerationJobRepository):
    """Generation jobs on one asyncpg connection, in its transaction."""

    def __init__(self, connection: _Guarded) -> None:
        self._connection = connection

    async def get(self, export_id: UUID, *, lock: bool = False) -> GenerationJob | None:
        query = f"{_JOBS.by_id} FOR UPDATE" if lock else _JOBS.by_id
        row = await self._connection.fetchrow(query, export_id)
        return None if row is None else job_from(_record(row))

    async def add(self, job: GenerationJob) -> None:
        try:
            await self._connection.execute(_JOBS.insert, *_JOBS.arguments(job_values(job)))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise DuplicateId(str(job.export_id)) from exc

    async def update(self, job: GenerationJob) -> None:
        arguments = _JOBS.arguments(job_values(job))
        status = await self._connection.execute(_JOBS.update, *arguments, job.export_id)
        if status != "UPDATE 1":
            raise UnknownId(str(job.export_id))

    async def remove(self, export_id: UUID) -> None:
        await self._connection.execute(
            "DELETE FROM generation_jobs WHERE export_id = $1", export_id
        )

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[GenerationJob]:
        rows = await self._connection.fetch(_CLAIM_JOBS, now, limit, now + lease, lease_id)
        ordered = sorted(
            (_record(row) for row in rows), key=lambda r: (r["was_due"], r["export_id"])
        )
        return [job_from(row) for row in ordered]

    async def backlog(self, now: datetime) -> Backlog:
        return await _backlog(self._connection, _JOB_BACKLOG, now)


async def _backlog(connection: _Guarded, query: str, now: datetime) -> Backlog:
    row = await connection.fetchrow(query, now)
    waiting, due, oldest = row or (0, 0, None)  # an aggregate always returns its one row
    return Backlog(waiting, due, oldest)


class AsyncpgIdempotencyKeyRepository(IdempotencyKeyRepository):
    """Idempotency keys on one asyncpg connection, in its transaction."""

    def __init__(self, connection: _Guarded) -> None:
        self._connection = connection

    async def get(self, key: IdempotencyKey, *, lock: bool = False) -> IdempotencyRecord | None:
        query = f"{_IDEMPOTENCY_BY_KEY} FOR UPDATE" if lock else _IDEMPOTENCY_BY_KEY
        row = await self._connection.fetchrow(query, key.scope, key.request, key.value)
        return None if row is None else idempotency_from(_record(row))

    async def add(self, record: IdempotencyRecord) -> None:
        arguments = _IDEMPOTENCY.arguments(idempotency_values(record))
        try:
            await self._connection.execute(_IDEMPOTENCY.insert, *arguments)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise DuplicateId(record.key.value) from exc

    async def update(self, record: IdempotencyRecord) -> None:
        key = record.key
        arguments = _IDEMPOTENCY.arguments(idempotency_values(record))
        status = await self._connection.execute(
            _IDEMPOTENCY_UPDATE, key.scope, key.request, key.value, *arguments
        )
        if status != "UPDATE 1":
            raise UnknownId(key.value)

    async def remove(self, key: IdempotencyKey) -> None:
        await self._connection.execute(
            f"DELETE FROM idempotency_keys WHERE {_IDEMPOTENCY_MATCH}",
            key.scope,
            key.request,
            key.value,
        )

    async def purge(self, now: datetime, limit: int) -> int:
        status = await self._connection.execute(_IDEMPOTENCY_PURGE, now, limit)
        return int(status.rpartition(" ")[2])


_CONNECTION_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


class AsyncpgUnitOfWork(UnitOfWork):
    """A pooled connection of ``engine`` and one asyncpg transaction on it.

    A connection the server has dropped (a restart, a failover) is discarded from the pool
    and, when that is found at the start, replaced once. A connection is never returned to
    the pool inside a transaction: if the rollback or the commit did not finish, it is
    discarded instead. After ``commit()`` the unit of work refuses further statements.
    """

    exports: AsyncpgExportRepository
    deliveries: AsyncpgDeliveryRepository
    jobs: AsyncpgGenerationJobRepository
    idempotency: AsyncpgIdempotencyKeyRepository

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: asyncpg.Connection[Any] | None = None
        self._transaction: Transaction | None = None

    async def __aenter__(self) -> Self:
        for attempt in (1, 2):
            with reachable():
                connection = await self._engine.connect()
            try:
                raw = await connection.get_raw_connection()
                driver: asyncpg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
                transaction = driver.transaction()
                await transaction.start()
            except _CONNECTION_LOST:
                await connection.invalidate()
                await connection.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                await connection.invalidate()
                await connection.close()
                raise
            self._connection, self._driver, self._transaction = connection, driver, transaction
            self.exports = AsyncpgExportRepository(_Guarded(driver, self))
            self.deliveries = AsyncpgDeliveryRepository(_Guarded(driver, self))
            self.jobs = AsyncpgGenerationJobRepository(_Guarded(driver, self))
            self.idempotency = AsyncpgIdempotencyKeyRepository(_Guarded(driver, self))
            break
        return self

    @property
    def open(self) -> bool:
        """Whether statements may still run: entered, and not yet committed."""
        return self._transaction is not None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        driver, self._driver = self._driver, None
        transaction, self._transaction = self._transaction, None
        if connection is None or driver is None:
            return
        try:
            if transaction is not None and not driver.is_closed():
                await transaction.rollback()
        finally:
            if driver.is_closed() or driver.is_in_transaction():
                await connection.invalidate()
            await connection.close()

    async def commit(self) -> None:
        if self._transaction is None:
            raise RuntimeError("commit() outside 'async with', or twice")
        try:
            await self._transaction.commit()
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise DuplicateId(str(exc)) from exc
        except asyncpg.TransactionRollbackError as exc:
            raise ConcurrentUpdate(str(exc)) from exc
        self._transaction = None


class _Guarded:
    """The driver connection, usable only while its unit of work is open."""

    def __init__(self, driver: asyncpg.Connection[Any], unit_of_work: AsyncpgUnitOfWork) -> None:
        self._driver = driver
        self._unit_of_work = unit_of_work

    def _check(self) -> asyncpg.Connection[Any]:
        if not self._unit_of_work.open:
            raise RuntimeError("this unit of work is over: committed, or left")
        return self._driver

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._check().fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._check().fetch(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._check().fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        try:
            return await self._check().execute(query, *args)
        except asyncpg.TransactionRollbackError as exc:  # deadlock, serialization failure
            raise ConcurrentUpdate(str(exc)) from exc
