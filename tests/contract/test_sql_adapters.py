"""The SQL adapters, on SQLite and on PostgreSQL, pass the same contracts as the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis.stateful import run_state_machine_as_test

from export_resend.adapters.sql import Database, SqlAlchemyApiKeyStore, SqlAlchemyUnitOfWork
from export_resend.adapters.sql.postgresql import AsyncpgUnitOfWork
from export_resend.domain.ports import ApiKeyStore, UnitOfWorkFactory
from export_resend.testing import (
    ApiKeyStoreContract,
    ExportRepositoryMachine,
    IdempotencyKeyRepositoryContract,
    UnitOfWorkContract,
)
from export_resend.testing.samples import sample_export
from export_resend.testing.state_machine import default_settings
from tests.postgres import LOCAL


class TestSqlAlchemyUnitOfWork(UnitOfWorkContract, IdempotencyKeyRepositoryContract):
    @pytest.fixture
    def unit_of_work(self, database: Database) -> UnitOfWorkFactory:
        return database.unit_of_work


class TestSqlAlchemyApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_keys(self, database: Database) -> ApiKeyStore:
        return SqlAlchemyApiKeyStore(database.engine)


def _machine_on(url: str) -> type[ExportRepositoryMachine]:
    class SqlExportRepositoryMachine(ExportRepositoryMachine):
        async def open_unit_of_work(self) -> UnitOfWorkFactory:
            self.database = Database(url, pool_size=2)
            return self.database.unit_of_work

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
    run_state_machine_as_test(_machine_on(url), settings=default_settings())


def test_the_state_machine_on_postgresql(postgres_url: str) -> None:
    run_state_machine_as_test(_machine_on(postgres_url), settings=default_settings())


class TestSqlAlchemyUnitOfWorkOnPostgresql(UnitOfWorkContract, IdempotencyKeyRepositoryContract):
    """The service uses AsyncpgUnitOfWork on PostgreSQL; a host may still choose this one."""

    @pytest.fixture
    async def unit_of_work(self, postgres_url: str) -> AsyncIterator[UnitOfWorkFactory]:
        database = Database(postgres_url, pool_size=2)
        yield lambda: SqlAlchemyUnitOfWork(database.engine)
        await database.dispose()


def test_postgresql_gets_the_asyncpg_unit_of_work_and_sqlite_the_sqlalchemy_one(
    tmp_path: Path,
) -> None:
    assert isinstance(Database(LOCAL).unit_of_work(), AsyncpgUnitOfWork)
    sqlite = Database(f"sqlite+aiosqlite:///{tmp_path / 'kind.db'}")
    assert isinstance(sqlite.unit_of_work(), SqlAlchemyUnitOfWork)


async def test_a_sqlite_writer_that_fails_or_is_cancelled_lets_the_next_one_write(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    await database.upgrade()
    try:

        async def failing() -> None:
            async with database.unit_of_work() as uow:
                await uow.exports.add(sample_export())
                raise RuntimeError("abandon while holding the write lock")

        with pytest.raises(RuntimeError):
            await failing()

        async def holding() -> None:
            async with database.unit_of_work() as uow:
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

        async with asyncio.timeout(5), database.unit_of_work() as next_writer:
            await next_writer.exports.add(sample_export())
            await next_writer.commit()
    finally:
        await database.dispose()
