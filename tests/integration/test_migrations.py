"""Migrations go up, down and up again, and agree with the tables the code declares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from export_resend.adapters.sql import Database, SqlAlchemyUnitOfWork
from export_resend.adapters.sql.database import HEAD_REVISION, alembic_config
from export_resend.adapters.sql.schema import exports, metadata
from export_resend.domain.export import ExportStatus
from tests.postgres import scratch_database

PENDING_ID = UUID("1a2b3c4d-0000-4000-8000-000000000004")
LEASE = timedelta(minutes=5)

TABLES = {
    "generation_jobs",
    "idempotency_keys",
    "alembic_version",
    "api_keys",
    "deliveries",
    "exports",
    "tenants",
    "users",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}")
        yield database
        await database.dispose()
        return
    async with scratch_database() as url:
        database = Database(url)
        yield database
        await database.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_the_head_revision_named_in_code_is_the_head_of_the_scripts() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


async def test_upgrade_downgrade_upgrade(empty: Database) -> None:
    assert await empty.revision() is None
    await empty.upgrade()
    assert await empty.revision() == HEAD_REVISION
    async with empty.engine.connect() as connection:
        assert await connection.run_sync(_tables) == TABLES
    await empty.downgrade("base")
    assert await empty.revision() is None
    async with empty.engine.connect() as connection:
        assert await connection.run_sync(_tables) == {"alembic_version"}
    await empty.upgrade()
    assert await empty.revision() == HEAD_REVISION


async def test_the_migrated_schema_is_the_declared_one(empty: Database) -> None:
    await empty.upgrade()
    async with empty.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_exports_left_pending_before_generation_existed_are_failed_not_generated(
    empty: Database,
) -> None:
    await empty.upgrade("0003")
    async with empty.engine.begin() as connection:
        await connection.execute(  # only the columns 0003 has
            exports.insert().values(
                id=PENDING_ID,
                tenant_id="acme",
                type="FUNDING_TRANSFERS",
                owner_id="sam",
                owner_email="sam@acme.example.com",
                cc=[],
                status="PENDING",
                requested_at=datetime(2026, 1, 1, tzinfo=UTC),
                version=0,
            )
        )
    await empty.upgrade()
    async with SqlAlchemyUnitOfWork(empty.engine, empty.writers) as uow:
        export = await uow.exports.get(PENDING_ID)
        assert await uow.jobs.claim(datetime(2030, 1, 1, tzinfo=UTC), uuid4(), LEASE, 10) == []
    assert export is not None
    assert export.status is ExportStatus.FAILED
    assert export.failure_reason is not None
    assert "request it again" in export.failure_reason
