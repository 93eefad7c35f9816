"""Getting a connection, with the drivers' errors that mean "the database cannot be reached"
raised as ``StorageUnavailable``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from export_resend.domain.ports import StorageUnavailable

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, reset: raised as is by the drivers' connect
    sa.OperationalError,
    sa.InterfaceError,
    sa.TimeoutError,  # no pooled connection came free in time
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.CannotConnectNowError,
)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Raise ``StorageUnavailable`` for an error of ``UNREACHABLE`` inside the block: use it
    around getting a connection, never around statements (their errors say more)."""
    try:
        yield
    except UNREACHABLE as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StorageUnavailable(f"{type(reason).__name__}: {reason}") from exc


@contextlib.asynccontextmanager
async def connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection (``StorageUnavailable`` if none can be had), closed after."""
    with reachable():
        connection = await engine.connect()
    try:
        yield connection
    finally:
        await connection.close()
