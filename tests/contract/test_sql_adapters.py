"""The SQL adapters pass the same contracts as the others: SQLAlchemy Core on SQLite and on
PostgreSQL, and asyncpg on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import text

from export_resend.adapters.sql import (
    AsyncpgUnitOfWork,
    Database,
    SqlAlchemyApiKeyStore,
    SqlAlchemyUnitOfWork,
)
from export_resend.adapters.sql.connections import connected
from export_resend.domain.ports import ApiKeyStore, StorageUnavailable, UnitOfWorkFactory
from export_resend.testing import (
    ApiKeyStoreContract,
    ExportRepositoryMachine,
    IdempotencyKeyRepositoryContract,
    UnitOfWorkContract,
)
from export_resend.testing.samples import sample_export
from export_resend.testing.state_machine import default_settings
from export_resend.testing.unit_of_work_concurrency import LoseConnections
from tests.conftest import units_of_work
from tests.postgres import terminate_backends


@pytest.fixture
async def postgresql(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


class TestSqlAlchemyUnitOfWork(UnitOfWorkContract, IdempotencyKeyRepositoryContract):
    """SQLAlchemy Core, on SQLite and on PostgreSQL."""

    @pytest.fixture
    def unit_of_work(self, database: Database) -> UnitOfWorkFactory:
        return units_of_work(database, "sqlalchemy")

    @pytest.fixture
    def lose_connections(
        self, database: Database, request: pytest.FixtureRequest
    ) -> LoseConnections | None:
        if database.dialect != "postgresql":
            return None
        url: str = request.getfixturevalue("postgres_url")
        return lambda: terminate_backends(url)

    @pytest.fixture
    def row_locks(self, database: Database) -> bool:
        return database.dialect == "postgresql"


class TestAsyncpgUnitOfWork(UnitOfWorkContract, IdempotencyKeyRepositoryContract):
    """asyncpg, on PostgreSQL."""

    @pytest.fixture
    def unit_of_work(self, postgresql: Database) -> UnitOfWorkFactory:
        return units_of_work(postgresql, "asyncpg")

    @pytest.fixture
    def lose_connections(self, postgres_url: str) -> LoseConnections | None:
        return lambda: terminate_backends(postgres_url)

    @pytest.fixture
    def row_locks(self) -> bool:
        return True


class TestSqlAlchemyApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_keys(self, database: Database) -> ApiKeyStore:
        return SqlAlchemyApiKeyStore(database.engine)


def _machine_on(url: str, driver: str) -> type[ExportRepositoryMachine]:
    class SqlExportRepositoryMachine(ExportRepositoryMachine):
        async def open_unit_of_work(self) -> UnitOfWorkFactory:
            self.database = Database(url, pool_size=2)
            return units_of_work(self.database, driver)

        async def close(self) -> None:
            await self.database.dispose()

    return SqlExportRepositoryMachine


def test_the_state_machine_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'machine.db'}"

    async def migrate() -> None:
        database = Database(url)
        await database.upgrade()
        await database.dispose()

    asyncio.run(migrate())
    run_state_machine_as_test(_machine_on(url, "sqlalchemy"), settings=default_settings())


@pytest.mark.parametrize("driver", ["sqlalchemy", "asyncpg"])
def test_the_state_machine_on_postgresql(postgres_url: str, driver: str) -> None:
    run_state_machine_as_test(_machine_on(postgres_url, driver), settings=default_settings())


@pytest.mark.parametrize("driver", ["sqlalchemy", "asyncpg"])
async def test_no_connection_free_in_time_is_storage_unavailable(
    postgres_url: str, driver: str
) -> None:
    database = Database(postgres_url, pool_size=1, pool_timeout=0.2)
    unit_of_work = units_of_work(database, driver)
    try:
        async with unit_of_work() as holding:
            await holding.exports.get(sample_export().id)
            with pytest.raises(StorageUnavailable, match="TimeoutError"):
                async with unit_of_work():
                    pass
        async with unit_of_work() as uow:  # the pool has its connection back
            assert await uow.exports.get(sample_export().id) is None
    finally:
        await database.dispose()


async def test_an_unreachable_server_is_storage_unavailable_for_both_drivers() -> None:
    database = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", pool_size=1)
    try:
        for unit_of_work in (
            lambda: AsyncpgUnitOfWork(database.engine),
            lambda: SqlAlchemyUnitOfWork(database.engine),
        ):
            with pytest.raises(StorageUnavailable):
                async with unit_of_work():
                    pass
    finally:
        await database.dispose()


async def test_a_connection_lost_under_the_key_store_or_a_ping_is_storage_unavailable(
    postgres_url: str,
) -> None:
    """The API key store and the ping take their connections with ``connected``."""
    database = Database(postgres_url, pool_size=1)

    async def lose_it_midway() -> None:
        async with connected(database.engine) as connection:
            await connection.execute(text("SELECT 1"))
            await terminate_backends(postgres_url)
            await connection.execute(text("SELECT 1"))

    try:
        with pytest.raises(StorageUnavailable, match="lost"):
            await lose_it_midway()
        await database.ping()  # a fresh connection
    finally:
        await database.dispose()


async def test_a_sqlite_writer_that_fails_or_is_cancelled_lets_the_next_one_write(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    await database.upgrade()
    unit_of_work = units_of_work(database, "sqlalchemy")
    try:

        async def failing() -> None:
            async with unit_of_work() as uow:
                await uow.exports.add(sample_export())
                raise RuntimeError("abandon while holding the write lock")

        with pytest.raises(RuntimeError):
            await failing()

        async def holding() -> None:
            async with unit_of_work() as uow:
                await uow.exports.add(sample_export())
                await asyncio.sleep(3600)

        task = asyncio.create_task(holding())
        await asyncio.sleep(0.2)
        for _ in range(200):  # cancelled again and again, also while it cleans up
            task.cancel()
            await asyncio.sleep(0.0005)
            if task.done():
                break
        await asyncio.gather(task, return_exceptions=True)

        async with asyncio.timeout(5), unit_of_work() as next_writer:
            await next_writer.exports.add(sample_export())
            await next_writer.commit()
    finally:
        await database.dispose()
