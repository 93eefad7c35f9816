"""PostgreSQL drops connections (a restart, a failover) and deadlocks: the service recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from export_resend.adapters.sql import AsyncpgUnitOfWork, Database
from export_resend.domain.export import Export
from export_resend.domain.ports import ConcurrentUpdate
from export_resend.testing.samples import sample_export
from tests.postgres import _dsn, server_url


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=1)
    yield database
    await database.dispose()


async def test_a_connection_the_server_dropped_is_replaced(postgres: Database) -> None:
    stored = sample_export()
    async with AsyncpgUnitOfWork(postgres.engine) as uow:
        await uow.exports.add(stored)
        await uow.commit()
    async with postgres.engine.connect() as connection:  # the pool's only connection
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    admin = await asyncpg.connect(_dsn(server_url()))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)
    for _ in range(3):
        async with AsyncpgUnitOfWork(postgres.engine) as uow:
            assert await uow.exports.get(stored.id) == stored


async def test_a_deadlock_between_two_writers_is_a_concurrent_update(postgres_url: str) -> None:
    database = Database(postgres_url, pool_size=2)
    first, second = sample_export(), sample_export()
    try:
        async with AsyncpgUnitOfWork(database.engine) as uow:
            await uow.exports.add(first)
            await uow.exports.add(second)
            await uow.commit()
        both_locked = asyncio.Barrier(2)

        async def lock_one_then_write_the_other(mine: Export, theirs: Export) -> None:
            async with AsyncpgUnitOfWork(database.engine) as uow:
                assert await uow.exports.get(mine.id, lock=True) is not None
                await both_locked.wait()
                assert theirs.expires_at is not None
                await uow.exports.update(theirs.expire(theirs.expires_at))
                await uow.commit()

        results = await asyncio.wait_for(
            asyncio.gather(
                lock_one_then_write_the_other(first, second),
                lock_one_then_write_the_other(second, first),
                return_exceptions=True,
            ),
            20,
        )
        assert sum(isinstance(r, ConcurrentUpdate) for r in results) == 1
        assert results.count(None) == 1
    finally:
        await database.dispose()
