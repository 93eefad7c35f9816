"""The repositories of a SQL unit of work, written once: each SQL package gives them its own
way of running ``statements`` in its transaction (``Statements``), nothing else."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID

from sqlalchemy import Executable

from export_resend.adapters.sql import statements as sql
from export_resend.adapters.sql.rows import (
    Row,
    delivery_from,
    delivery_values,
    export_from,
    export_values,
    idempotency_from,
    idempotency_values,
    job_from,
    job_values,
)
from export_resend.domain.delivery import Delivery, DeliveryKind
from export_resend.domain.export import Export, ExportPage, ExportQuery
from export_resend.domain.generation import GenerationJob
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord
from export_resend.domain.ports import (
    Backlog,
    ConcurrentUpdate,
    DeliveryRepository,
    ExportRepository,
    GenerationJobRepository,
    IdempotencyKeyRepository,
    UnknownId,
)

T = TypeVar("T", Delivery, GenerationJob)


class Statements(Protocol):
    """Runs the statements of ``statements`` in one unit of work's transaction, with their
    parameters by name, and raises the ports' errors for the drivers' (``errors.port_error``).

    ``writes``: the statement writes, or locks what it reads (SQLite begins such a
    transaction IMMEDIATE). ``postgresql``: claims run as one statement (``CLAIM_*``).
    After the unit of work is over, every call raises ``RuntimeError``.
    """

    postgresql: bool

    async def row(
        self, statement: Executable, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Row | None: ...

    async def rows(
        self, statement: Executable, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Sequence[Row]: ...

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> int:
        """Run a statement that writes; how many rows it changed."""
        ...


class SqlExportRepository(ExportRepository):
    """Exports, in one SQL transaction."""

    def __init__(self, statements: Statements) -> None:
        self._run = statements

    async def get(self, export_id: UUID, *, lock: bool = False) -> Export | None:
        query = sql.EXPORT_LOCKED if lock else sql.EXPORT
        row = await self._run.row(query, {"match_id": export_id}, writes=lock)
        return None if row is None else export_from(row)

    async def add(self, export: Export) -> None:
        await self._run.execute(sql.ADD_EXPORT, export_values(export))

    async def update(self, export: Export) -> Export:
        updated = dataclasses.replace(export, version=export.version + 1)
        match = {"match_id": export.id, "match_version": export.version}
        if await self._run.execute(sql.UPDATE_EXPORT, {**export_values(updated), **match}):
            return updated
        found = await self._run.row(sql.EXPORT_EXISTS, match, writes=True)
        raise (ConcurrentUpdate if found else UnknownId)(str(export.id))

    async def list(self, query: ExportQuery, now: datetime) -> ExportPage:
        page, count = sql.export_page(query.type is not None, query.status)
        parameters = {
            "tenant_id": query.tenant_id,
            "owner_id": query.owner_id,
            "type": None if query.type is None else query.type.value,
            "now": now,
            "limit": query.size,
            "offset": query.page * query.size,
        }
        rows = await self._run.rows(page, parameters)
        total = await self._run.row(count, parameters)
        return ExportPage(
            tuple(export_from(r) for r in rows), 0 if total is None else total["total"]
        )

    async def expired(self, now: datetime, limit: int) -> Sequence[Export]:
        rows = await self._run.rows(sql.EXPIRED_EXPORTS, {"now": now, "limit": limit})
        return [export_from(row) for row in rows]


async def _claim(
    run: Statements,
    statements: tuple[Executable, Executable, Executable],
    from_row: Callable[[Row], T],
    key: str,
    lease: tuple[datetime, UUID, timedelta, int],
) -> list[T]:
    """Take the due rows: with ``in_one`` on PostgreSQL (SKIP LOCKED, one round trip), else
    ``due`` then ``leased``, in a transaction that holds SQLite's write lock from the first."""
    due, leased, in_one = statements
    now, lease_id, length, limit = lease
    parameters = {"now": now, "limit": limit, "lease_end": now + length, "lease_id": lease_id}
    if run.postgresql:
        rows = await run.rows(in_one, parameters, writes=True)
        return [from_row(row) for row in sorted(rows, key=lambda r: (r["was_due"], r[key]))]
    found = await run.rows(due, parameters, writes=True)
    claimed = [from_row(row).claimed(lease_id, now, length) for row in found]
    if claimed:
        await run.execute(leased, {**parameters, "ids": [row[key] for row in found]})
    return claimed


async def _backlog(run: Statements, statement: Executable, now: datetime) -> Backlog:
    row = await run.row(statement, {"now": now})
    if row is None:  # an aggregate always has its one row
        return Backlog(0, 0, None)
    return Backlog(row["waiting"], row["due"], row["oldest"])


class SqlDeliveryRepository(DeliveryRepository):
    """The outbox, in one SQL transaction."""

    def __init__(self, statements: Statements) -> None:
        self._run = statements

    async def get(self, delivery_id: UUID, *, lock: bool = False) -> Delivery | None:
        query = sql.DELIVERY_LOCKED if lock else sql.DELIVERY
        row = await self._run.row(query, {"match_id": delivery_id}, writes=lock)
        return None if row is None else delivery_from(row)

    async def add(self, delivery: Delivery) -> None:
        await self._run.execute(sql.ADD_DELIVERY, delivery_values(delivery))

    async def update(self, delivery: Delivery) -> None:
        values = {**delivery_values(delivery), "match_id": delivery.id}
        if await self._run.execute(sql.UPDATE_DELIVERY, values) != 1:
            raise UnknownId(str(delivery.id))

    async def list_for_export(self, export_id: UUID) -> Sequence[Delivery]:
        rows = await self._run.rows(sql.DELIVERIES_OF_EXPORT, {"match_id": export_id})
        return [delivery_from(row) for row in rows]

    async def queued_since(
        self, export_id: UUID, kind: DeliveryKind, since: datetime
    ) -> Sequence[datetime]:
        parameters = {"match_id": export_id, "kind": kind.value, "since": since}
        return [row["queued_at"] for row in await self._run.rows(sql.QUEUED_SINCE, parameters)]

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[Delivery]:
        claims = (sql.DUE_DELIVERIES, sql.LEASE_DELIVERIES, sql.CLAIM_DELIVERIES)
        return await _claim(self._run, claims, delivery_from, "id", (now, lease_id, lease, limit))

    async def backlog(self, now: datetime) -> Backlog:
        return await _backlog(self._run, sql.DELIVERY_BACKLOG, now)


class SqlGenerationJobRepository(GenerationJobRepository):
    """The generation queue, in one SQL transaction."""

    def __init__(self, statements: Statements) -> None:
        self._run = statements

    async def get(self, export_id: UUID, *, lock: bool = False) -> GenerationJob | None:
        query = sql.JOB_LOCKED if lock else sql.JOB
        row = await self._run.row(query, {"match_id": export_id}, writes=lock)
        return None if row is None else job_from(row)

    async def add(self, job: GenerationJob) -> None:
        await self._run.execute(sql.ADD_JOB, job_values(job))

    async def update(self, job: GenerationJob) -> None:
        values = {**job_values(job), "match_id": job.export_id}
        if await self._run.execute(sql.UPDATE_JOB, values) != 1:
            raise UnknownId(str(job.export_id))

    async def remove(self, export_id: UUID) -> None:
        await self._run.execute(sql.REMOVE_JOB, {"match_id": export_id})

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[GenerationJob]:
        claims = (sql.DUE_JOBS, sql.LEASE_JOBS, sql.CLAIM_JOBS)
        lease_of = (now, lease_id, lease, limit)
        return await _claim(self._run, claims, job_from, "export_id", lease_of)

    async def backlog(self, now: datetime) -> Backlog:
        return await _backlog(self._run, sql.JOB_BACKLOG, now)


def _match(key: IdempotencyKey) -> dict[str, str]:
    return {"match_scope": key.scope, "match_request": key.request, "match_key": key.value}


class SqlIdempotencyKeyRepository(IdempotencyKeyRepository):
    """Idempotency keys, in one SQL transaction."""

    def __init__(self, statements: Statements) -> None:
        self._run = statements

    async def get(self, key: IdempotencyKey, *, lock: bool = False) -> IdempotencyRecord | None:
        query = sql.IDEMPOTENCY_LOCKED if lock else sql.IDEMPOTENCY
        row = await self._run.row(query, _match(key), writes=lock)
        return None if row is None else idempotency_from(row)

    async def add(self, record: IdempotencyRecord) -> None:
        await self._run.execute(sql.ADD_IDEMPOTENCY, idempotency_values(record))

    async def update(self, record: IdempotencyRecord) -> None:
        values = {**idempotency_values(record), **_match(record.key)}
        if await self._run.execute(sql.UPDATE_IDEMPOTENCY, values) != 1:
            raise UnknownId(record.key.value)

    async def remove(self, key: IdempotencyKey) -> None:
        await self._run.execute(sql.REMOVE_IDEMPOTENCY, _match(key))

    async def purge(self, now: datetime, limit: int) -> int:
        return await self._run.execute(sql.PURGE_IDEMPOTENCY, {"now": now, "limit": limit})
