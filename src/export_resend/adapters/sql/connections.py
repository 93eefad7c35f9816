"""Getting a connection, with the drivers' errors that mean "the database cannot be reached"
raised as ``StorageUnavailable``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from export_resend.adapters.sql.errors import port_error, reachable


@contextlib.asynccontextmanager
async def connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection (``StorageUnavailable`` if none can be had, or if it is lost
    inside the block), closed after."""
    with reachable():
        connection = await engine.connect()
    try:
        yield connection
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        raise port_error(exc, lost=True) or exc from exc
    finally:
        await connection.close()
