"""The container on real databases: the embedded SQLite default and PostgreSQL."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from export_resend.adapters.sql import AsyncpgUnitOfWork, Database, SqlAlchemyUnitOfWork
from export_resend.adapters.sql.database import HEAD_REVISION, SchemaNotCurrent
from export_resend.adapters.sql.schema import VERSION_TABLE
from export_resend.container import Container
from export_resend.domain.export import ExportStatus
from export_resend.service import ExportResend
from export_resend.settings import DatabaseDriver, MailerKind, Settings, UnsupportedSetting
from tests.conftest import close_storage, open_storage
from tests.e2e.conftest import OLIVIA
from tests.factories import export


def _container(url: str, **settings: object) -> Container:
    return Container(
        settings=Settings.model_validate(
            {"database_url": url, "mailer": MailerKind.MEMORY, **settings}
        )
    )


async def test_sqlite_default_creates_its_schema_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'export-resend.db'}"
    first = _container(url)
    await open_storage(first)
    demo = await first.seed_demo()()
    await close_storage(first)

    second = _container(url)
    await open_storage(second)
    ready = demo.export("olivia-ready").export
    details = await second.get_export()(demo.user("olivia").caller, ready.id)
    assert details.export == ready
    assert details.status is ExportStatus.READY
    assert await second.seed_demo()() == demo
    await close_storage(second)


def test_link_secret_is_made_once_beside_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    first = _container(url).links()
    secret_file = tmp_path / "x.db.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text()) >= 40
    second = _container(url).links()
    target = export(OLIVIA)
    token = first.url_for(target).partition("token=")[2]
    assert second.export_id(token) == target.id


def test_a_configured_link_secret_wins_and_no_file_is_made(tmp_path: Path) -> None:
    _container(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", link_secret="from-vault").links()
    assert not (tmp_path / "x.db.secret").exists()


def test_postgresql_needs_a_configured_link_secret(postgres_url: str) -> None:
    with pytest.raises(UnsupportedSetting, match="EXPORT_RESEND_LINK_SECRET"):
        _container(postgres_url).links()


async def test_postgresql_refuses_to_start_on_a_schema_that_is_not_current(
    postgres_url: str,
) -> None:
    database = Database(postgres_url)
    try:
        async with database.engine.begin() as connection:
            stale = text(f"UPDATE {VERSION_TABLE} SET version_num = 'old'")  # noqa: S608
            await connection.execute(stale)
        container = _container(postgres_url, link_secret="s")
        with pytest.raises(SchemaNotCurrent, match="export-resend db upgrade"):
            await open_storage(container)
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(
                text(f"UPDATE {VERSION_TABLE} SET version_num = :head"),  # noqa: S608
                {"head": HEAD_REVISION},
            )
        await database.dispose()


async def test_postgresql_at_head_serves(postgres_url: str) -> None:
    container = _container(postgres_url, link_secret="s")
    await open_storage(container)
    demo = await container.seed_demo()()
    olivia = demo.user("olivia").caller
    details = await container.get_export()(olivia, demo.export("olivia-pending").export.id)
    assert details.status is ExportStatus.PENDING
    await close_storage(container)


@pytest.mark.parametrize(
    ("url", "driver", "unit_of_work"),
    [
        ("sqlite+aiosqlite:///x.db", None, SqlAlchemyUnitOfWork),
        ("postgresql+asyncpg://u@db.example.com/x", None, AsyncpgUnitOfWork),
        ("postgresql+asyncpg://u@db.example.com/x", "sqlalchemy", SqlAlchemyUnitOfWork),
        ("postgresql+asyncpg://u@db.example.com/x", "asyncpg", AsyncpgUnitOfWork),
    ],
)
def test_the_container_chooses_the_unit_of_work_from_the_url_and_the_driver(
    url: str, driver: str | None, unit_of_work: type[object]
) -> None:
    settings = {} if driver is None else {"database_driver": driver}
    assert type(_container(url, **settings).unit_of_work()) is unit_of_work


async def test_a_hosts_engine_runs_on_sqlalchemy_and_refuses_asyncpg() -> None:
    engine = create_async_engine("postgresql+asyncpg://u@db.example.com/x")
    try:
        service = ExportResend(Settings.model_validate({"link_secret": "s" * 32}), engine=engine)
        assert type(service.container.unit_of_work()) is SqlAlchemyUnitOfWork
        asyncpg = Settings(
            database_url="postgresql+asyncpg://u@db.example.com/x",
            database_driver=DatabaseDriver.ASYNCPG,
        )
        with pytest.raises(UnsupportedSetting, match="engine= runs on SQLAlchemy"):
            ExportResend(asyncpg, engine=engine)
    finally:
        await engine.dispose()


def test_an_empty_secret_file_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / "x.db.secret").write_text("")
    with pytest.raises(UnsupportedSetting, match="no usable secret"):
        _container(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}").links()
    assert [p.name for p in tmp_path.iterdir()] == ["x.db.secret"]
