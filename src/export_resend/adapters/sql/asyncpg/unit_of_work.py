"""The unit of work on PostgreSQL, on asyncpg itself: the service's hot path.

A connection comes from the ``Database``'s pool, and its transaction and statements run on
the asyncpg driver connection underneath. Each statement of ``statements`` is compiled once
for PostgreSQL (SQL with ``$n`` placeholders) and then prepared and cached by asyncpg per
connection: SQLAlchemy's per-statement machinery costs more CPU per request than the rest
of the request put together (docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, cast
from uuid import UUID

import asyncpg
from asyncpg.transaction import Transaction
from sqlalchemy import JSON, ClauseElement, Executable, Uuid
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from export_resend.adapters.sql.errors import port_error, reachable
from export_resend.adapters.sql.repositories import (
    SqlDeliveryRepository,
    SqlExportRepository,
    SqlGenerationJobRepository,
    SqlIdempotencyKeyRepository,
    Statements,
)
from export_resend.adapters.sql.rows import Row
from export_resend.domain.ports import StorageUnavailable, UnitOfWork

if TYPE_CHECKING:
    Driver = asyncpg.Connection[asyncpg.Record]

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
# asyncpg prepares each statement and learns its parameters' types from the server; SQL
# without SQLAlchemy's casts is the SQL one would write by hand
_DIALECT.bind_typing = BindTyping.NONE


class _Compiled:
    """A statement as PostgreSQL's SQL, its parameters in ``$n`` order (a JSON one as its
    text, as the connection's codec wants it), and the UUID columns of its rows."""

    __slots__ = ("_json", "_names", "sql", "uuids")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
        self.sql = compiled.string
        self._names = tuple(compiled.positiontup or ())
        binds = {name: compiled.binds[name] for name in self._names}
        constants = [name for name, bind in binds.items() if bind.value is not None]
        if constants:
            raise ValueError(f"write constants into the SQL (statements.constant): {constants}")
        self._json = frozenset(name for name, bind in binds.items() if isinstance(bind.type, JSON))
        columns = getattr(statement, "exported_columns", ())
        self.uuids = tuple(c.name for c in columns if isinstance(c.type, Uuid))

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        json_names = self._json
        return [
            json.dumps(parameters[name]) if name in json_names else parameters[name]
            for name in self._names
        ]


_COMPILED: dict[Executable, _Compiled] = {}


def _compiled(statement: Executable) -> _Compiled:
    compiled = _COMPILED.get(statement)
    if compiled is None:
        compiled = _COMPILED[statement] = _Compiled(statement)  # type: ignore[arg-type]
    return compiled


def _row(record: asyncpg.Record, uuids: tuple[str, ...]) -> Row:
    """The record, its UUIDs as the standard class (asyncpg's is a subclass of its own)."""
    if not uuids:
        return record
    row = dict(record.items())
    for name in uuids:
        if (value := row[name]) is not None:
            row[name] = UUID(bytes=value.bytes)
    return row


class _AsyncpgStatements(Statements):
    """The statements of one unit of work, on its driver connection, while it is open."""

    postgresql = True

    def __init__(self, driver: Driver, unit_of_work: AsyncpgUnitOfWork) -> None:
        self._driver = driver
        self._unit_of_work = unit_of_work

    async def row(
        self, statement: Executable, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Row | None:
        compiled = _compiled(statement)
        record = await self._run(asyncpg.Connection.fetchrow, compiled, parameters)
        return None if record is None else _row(record, compiled.uuids)

    async def rows(
        self, statement: Executable, parameters: Mapping[str, Any], *, writes: bool = False
    ) -> Sequence[Row]:
        compiled = _compiled(statement)
        records = await self._run(asyncpg.Connection.fetch, compiled, parameters)
        return [_row(record, compiled.uuids) for record in records]

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> int:
        status = await self._run(asyncpg.Connection.execute, _compiled(statement), parameters)
        return int(status.rpartition(" ")[2])  # "UPDATE 1", "INSERT 0 1", "DELETE 3"

    async def _run(
        self,
        call: Callable[..., Awaitable[Any]],
        compiled: _Compiled,
        parameters: Mapping[str, Any],
    ) -> Any:
        if not self._unit_of_work.open:
            raise RuntimeError("this unit of work is over: committed, or left")
        try:
            return await call(self._driver, compiled.sql, *compiled.arguments(parameters))
        except Exception as exc:
            error = port_error(exc, lost=self._driver.is_closed())
            if error is None:
                raise
            raise error from exc


class AsyncpgUnitOfWork(UnitOfWork):
    """A pooled connection of ``engine`` and one asyncpg transaction on it.

    A connection the server has dropped is replaced once when that is found at the start;
    found later, the unit of work raises ``StorageUnavailable``. A connection is never
    returned to the pool inside a transaction: if the rollback or the commit did not finish,
    it is discarded instead. After ``commit()`` the unit of work refuses further statements.
    """

    exports: SqlExportRepository
    deliveries: SqlDeliveryRepository
    jobs: SqlGenerationJobRepository
    idempotency: SqlIdempotencyKeyRepository

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Driver | None = None
        self._transaction: Transaction | None = None

    async def __aenter__(self) -> Self:
        begun = await self._begin(last=False) or await self._begin(last=True)
        if begun is None:  # _begin(last=True) raises rather than give up
            raise StorageUnavailable("no connection could begin a transaction")
        self._connection, self._driver, self._transaction = begun
        statements = _AsyncpgStatements(self._driver, self)
        self.exports = SqlExportRepository(statements)
        self.deliveries = SqlDeliveryRepository(statements)
        self.jobs = SqlGenerationJobRepository(statements)
        self.idempotency = SqlIdempotencyKeyRepository(statements)
        return self

    async def _begin(self, *, last: bool) -> tuple[AsyncConnection, Driver, Transaction] | None:
        """A pooled connection in a new transaction; ``None`` if the server had dropped the
        connection (since it was pooled) and this is not the ``last`` try."""
        with reachable():
            connection = await self._engine.connect()
        driver: Driver | None = None
        try:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            if driver is None:
                raise RuntimeError("the pool gave a connection without its driver's")
            transaction = driver.transaction()
            await transaction.start()
        except BaseException as exc:
            await connection.invalidate()
            await connection.close()
            lost = driver is not None and driver.is_closed()
            if lost and not last:
                return None
            error = port_error(exc, lost=lost) if isinstance(exc, Exception) else None
            if error is None:
                raise
            raise error from exc
        return connection, driver, transaction

    @property
    def open(self) -> bool:
        """Whether statements may still run: entered, and not yet committed."""
        return self._transaction is not None

    async def __aexit__(self, *exc_info: object) -> None:
        connection, self._connection = self._connection, None
        driver, self._driver = self._driver, None
        transaction, self._transaction = self._transaction, None
        if connection is None or driver is None:
            return
        try:
            if transaction is not None and not driver.is_closed():
                await transaction.rollback()
        except Exception:
            if not driver.is_closed():
                raise  # the connection lost meanwhile took its transaction with it
        finally:
            if driver.is_closed() or driver.is_in_transaction():
                await connection.invalidate()
            await connection.close()

    async def commit(self) -> None:
        if self._transaction is None or self._driver is None:
            raise RuntimeError("commit() outside 'async with', or twice")
        try:
            await self._transaction.commit()
        except Exception as exc:
            error = port_error(exc, lost=self._driver.is_closed())
            if error is None:
                raise
            raise error from exc
        self._transaction = None
