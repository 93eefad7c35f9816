"""Getting a connection, with the drivers' errors that mean "the database cannot be reached"
raised as ``StorageUnavailable``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from export_resend.adapters.sql.errors import reachable


@contextlib.asynccontextmanager
async def connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection (``StorageUnavailable`` if none can be had), closed after."""
    with reachable():
        connection = await engine.connect()
    try:
        yield connection
    finally:
        await connection.close()
