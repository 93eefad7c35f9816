"""Fixtures shared by every tier: a clean environment and a wired in-memory world."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest
from dependency_injector import providers

from export_resend.adapters.memory import (
    InMemoryApiKeyStore,
    InMemoryFileStore,
    InMemoryMailer,
    InMemoryStore,
)
from export_resend.adapters.sql import AsyncpgUnitOfWork, Database, SqlAlchemyUnitOfWork
from export_resend.container import Container
from export_resend.domain.api_keys import ApiKey, ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.delivery import Delivery
from export_resend.domain.export import Export
from export_resend.domain.ports import ApiKeyStore, UnitOfWorkFactory
from export_resend.settings import MailerKind, Settings
from export_resend.testing import ManualClock
from tests.factories import NOW
from tests.postgres import REQUIRE_VARIABLE, fresh_database

pytest_plugins = ["tests.s3", "tests.smtp", "pytester"]
_TEST_VARIABLES = ("EXPORT_RESEND_TEST_", REQUIRE_VARIABLE)
LINK_SECRET = "test-link-secret-0123456789abcdef"


def clear_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset a developer's own EXPORT_RESEND_* variables; keep the test run's own
    (EXPORT_RESEND_TEST_*, and EXPORT_RESEND_REQUIRE_POSTGRES for the tests that make a
    PostgreSQL database of their own)."""
    for name in os.environ:
        if name.startswith("EXPORT_RESEND_") and not name.startswith(_TEST_VARIABLES):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own EXPORT_RESEND_* variables never reach a test."""
    clear_outside_settings(monkeypatch)


async def issue_key(
    api_keys: ApiKeyStore, caller: Caller, api_key: str | None = None, *, at: datetime = NOW
) -> str:
    """Store ``api_key`` (a new key if ``None``) for ``caller``; returns the key."""
    key = ApiKey.generate() if api_key is None else ApiKey.parse(api_key)
    await api_keys.add(key.sha256, ApiKeyRecord(key.key_id, caller, at))
    return key.text


@dataclass
class World:
    """A container wired with in-memory adapters and a manual clock, and handles on them."""

    container: Container
    clock: ManualClock
    store: InMemoryStore
    mailer: InMemoryMailer
    api_keys: InMemoryApiKeyStore
    files: InMemoryFileStore
    keys: dict[str, str] = field(default_factory=dict)

    async def add_export(self, export: Export) -> Export:
        self.store.exports[export.id] = export
        return export

    async def add_caller(self, caller: Caller, api_key: str | None = None) -> str:
        key = await issue_key(self.api_keys, caller, api_key, at=self.clock.now())
        self.keys[caller.user_id + "@" + caller.tenant_id] = key
        return key

    def deliveries(self, export_id: UUID) -> list[Delivery]:
        return sorted(
            (d for d in self.store.deliveries.values() if d.export_id == export_id),
            key=lambda d: d.queued_at,
        )


async def open_storage(container: Container) -> None:
    """Open ``container``'s storage as ``ExportResend.running()`` does, without the background
    work, for a test that drives the use cases itself (and shuts the resources down)."""
    database = container.database()
    if database is not None:
        try:
            await database.open()
        except BaseException:
            await database.dispose()
            raise
    container.lifecycle().hold_open()


async def close_storage(container: Container) -> None:
    """Close what ``open_storage`` opened."""
    database = container.database()
    if database is not None:
        await database.dispose()


def make_world(**settings: object) -> World:
    """A fresh world; ``settings`` override the test defaults."""
    values: dict[str, object] = {
        "mailer": MailerKind.MEMORY,
        "link_secret": LINK_SECRET,
        "database_url": "memory://",
    }
    values.update(settings)
    container = Container(settings=Settings.model_validate(values))
    clock = ManualClock(NOW)
    container.clock.override(providers.Object(clock))
    mailer = container.mailer()
    assert isinstance(mailer, InMemoryMailer)
    api_keys = container.stored_api_keys()
    assert isinstance(api_keys, InMemoryApiKeyStore)
    files = container.file_store()
    assert isinstance(files, InMemoryFileStore)
    # in memory there is nothing to open: the world's use cases run without a lifespan
    container.lifecycle().hold_open()
    return World(container, clock, container.memory_store(), mailer, api_keys, files)


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this run's own (see tests/postgres.py)."""
    yield from fresh_database()


@dataclass
class Sql:
    """A migrated SQL database and the units of work one SQL package runs on it."""

    database: Database
    unit_of_work: UnitOfWorkFactory


SQL_ADAPTERS = ["sqlite", "postgresql-sqlalchemy", "postgresql-asyncpg"]
"""Every SQL unit of work there is: SQLAlchemy Core on SQLite and PostgreSQL, asyncpg."""


def units_of_work(database: Database, driver: str) -> UnitOfWorkFactory:
    """The units of work of ``driver`` (``sqlalchemy`` or ``asyncpg``) on ``database``."""
    if driver == "asyncpg":
        return lambda: AsyncpgUnitOfWork(database.engine)
    return lambda: SqlAlchemyUnitOfWork(database.engine, database.writers)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQL database, for the stores that run on it whatever the driver (API keys,
    sessions): a SQLite file per test, or the run's PostgreSQL database."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await database.upgrade()
    else:
        database = Database(request.getfixturevalue("postgres_url"), pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=SQL_ADAPTERS)
async def sql(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sql]:
    """A migrated SQL database (a SQLite file per test, or the run's PostgreSQL database) and
    a SQL package's units of work on it."""
    dialect, _, driver = request.param.partition("-")
    if dialect == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await database.upgrade()
    else:
        database = Database(request.getfixturevalue("postgres_url"), pool_size=4)
    try:
        yield Sql(database, units_of_work(database, driver or "sqlalchemy"))
    finally:
        await database.dispose()
