"""The unit of work on SQLAlchemy Core: SQLite (the embedded default), and PostgreSQL for a
host that gives its own engine or connection (``ExportResend(engine=...)``,
``in_transaction(connection)``) or sets ``EXPORT_RESEND_DATABASE_DRIVER=sqlalchemy``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Self, TypeVar

from sqlalchemy import CursorResult, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from export_resend.adapters.sql.database import SQLITE_BEGIN
from export_resend.adapters.sql.errors import port_error, reachable
from export_resend.adapters.sql.repositories import (
    SqlDeliveryRepository,
    SqlExportRepository,
    SqlGenerationJobRepository,
    SqlIdempotencyKeyRepository,
    Statements,
)
from export_resend.adapters.sql.rows import Row
from export_resend.domain.ports import UnitOfWork

T = TypeVar("T")


async def _translated(step: Awaitable[T]) -> T:
    """What ``step`` gives, with a driver's error raised as the port's it stands for."""
    try:
        return await step
    except DBAPIError as exc:
        error = port_error(exc, lost=exc.connection_invalidated)
        if error is None:
            raise
        raise error from exc


class _CoreStatements(Statements):
    """The statements of one unit of work, on one connection, in the transaction it begins
    on first use.

    On SQLite the first statement decides: a write, or a read with ``lock``, begins
    IMMEDIATE (the write lock, taken before anything is read); a plain read begins DEFERRED.
    Writers first queue on ``writers`` (one per database, in this process), so that they wait
    their turn in order instead of in SQLite's busy handler, which sleeps and polls.
    """

    def __init__(self, connection: AsyncConnection, writers: asyncio.Lock | None) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self._sqlite = connection.dialect.name == "sqlite"
        self._writers = writers
        self.holds_writers = False
        self.over = False

    def release_writers(self) -> None:
        """Let the next writer in, if this transaction was holding the queue."""
        if self.holds_writers and self._writers is not None:
            self.holds_writers = False
            self._writers.release()

    async def row(
        self, statement: Executable, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Row | None:
        return (await self._run(statement, parameters, writes)).mappings().first()

    async def rows(
        self, statement: Executable, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Sequence[Row]:
        return (await self._run(statement, parameters, writes)).mappings().all()

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> int:
        return (await self._run(statement, parameters, True)).rowcount

    async def _run(
        self, statement: Executable, parameters: Mapping[str, Any], writes: bool
    ) -> CursorResult[Any]:
        if self.over:
            raise RuntimeError("this unit of work is over: committed, or left")
        if self._sqlite and not self.connection.in_transaction():
            if writes and self._writers is not None:
                await self._writers.acquire()
                self.holds_writers = True
            await self.connection.execution_options(
                **{SQLITE_BEGIN: "IMMEDIATE" if writes else "DEFERRED"}
            )
        return await _translated(self.connection.execute(statement, parameters))


class SqlAlchemyUnitOfWork(UnitOfWork):
    """One connection and one transaction from ``engine``, for the length of an ``async with``.

    On SQLite, give every unit of work of one database the same ``writers`` lock
    (``Database.writers``). ``joining(connection)`` makes one inside a host's own
    transaction instead.
    """

    exports: SqlExportRepository
    deliveries: SqlDeliveryRepository
    jobs: SqlGenerationJobRepository
    idempotency: SqlIdempotencyKeyRepository

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
        self._statements: _CoreStatements | None = None

    @classmethod
    def joining(cls, connection: AsyncConnection) -> SqlAlchemyUnitOfWork:
        """A unit of work inside ``connection``'s transaction, which its owner commits or
        rolls back: ours is a SAVEPOINT in it, released by ``commit()`` and rolled back on
        leaving without one. The connection is never closed here."""
        return cls(joining=connection)

    async def __aenter__(self) -> Self:
        if self._joined is not None:
            connection = self._joined
            self._savepoint = await _translated(connection.begin_nested())
        elif self._engine is not None:
            with reachable():
                connection = await self._engine.connect()
        else:
            raise TypeError("give an engine, or a connection to join")
        statements = self._statements = _CoreStatements(connection, self._writers)
        self.exports = SqlExportRepository(statements)
        self.deliveries = SqlDeliveryRepository(statements)
        self.jobs = SqlGenerationJobRepository(statements)
        self.idempotency = SqlIdempotencyKeyRepository(statements)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        statements, self._statements = self._statements, None
        savepoint, self._savepoint = self._savepoint, None
        if statements is None:
            return
        statements.over = True
        if savepoint is not None:
            if savepoint.is_active:
                await savepoint.rollback()
            return
        connection = statements.connection
        try:
            try:
                if connection.in_transaction():
                    await connection.rollback()
            finally:
                await connection.close()
        finally:  # whatever happened above, the next writer must get its turn
            statements.release_writers()

    async def commit(self) -> None:
        statements = self._statements
        if statements is None:
            raise RuntimeError("commit() outside 'async with'")
        if statements.over:
            raise RuntimeError("commit() twice")
        if self._savepoint is not None:
            await _translated(self._savepoint.commit())
        else:
            await _translated(statements.connection.commit())
        statements.over = True
        statements.release_writers()
