"""A host service passes its own SQLAlchemy engine: our tables in its database, and our writes
in its own transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from export_resend import ExportResend, Settings
from export_resend.adapters.memory import InMemoryFileStore, InMemoryMailer
from export_resend.application.request_export import ExportCommand
from export_resend.domain.export import ExportStatus, ExportType
from tests.conftest import LINK_SECRET
from tests.factories import caller

OLIVIA = caller("olivia", f"acme-{uuid4().hex[:8]}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def host_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The host's own engine, on its own database (the run's PostgreSQL one is migrated)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'host.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE host_invoices (id VARCHAR(40) PRIMARY KEY)"))
    try:
        yield engine
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE host_invoices"))
        await engine.dispose()


def _service(engine: AsyncEngine) -> ExportResend:
    settings = Settings.model_validate({"link_secret": LINK_SECRET, "dispatch_poll_interval": 0.05})
    return ExportResend(
        settings, engine=engine, mailer=InMemoryMailer(), file_store=InMemoryFileStore()
    )


async def _invoices(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count: int = (
            await connection.execute(text("SELECT count(*) FROM host_invoices"))
        ).scalar_one()
        return count


async def _exports(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT count(*) FROM exports WHERE tenant_id = :tenant"),
            {"tenant": OLIVIA.tenant_id},
        )
        count: int = result.scalar_one()
        return count


async def _request_then_change_its_mind(service: ExportResend, engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO host_invoices VALUES ('inv-1')"))
        ours = service.in_transaction(connection)
        await ours.request_export(OLIVIA, ExportType.SUPPLIER_PAYOUTS, ExportCommand())
        raise RuntimeError("the host changed its mind")


async def test_an_export_requested_in_the_hosts_transaction_lives_and_dies_with_it(
    host_engine: AsyncEngine,
) -> None:
    service = _service(host_engine)
    async with service.running():
        with pytest.raises(RuntimeError, match="the host changed its mind"):
            await _request_then_change_its_mind(service, host_engine)
        assert await _invoices(host_engine) == 0
        assert await _exports(host_engine) == 0

        async with host_engine.begin() as connection:
            await connection.execute(text("INSERT INTO host_invoices VALUES ('inv-2')"))
            ours = service.in_transaction(connection)
            requested = await ours.request_export(
                OLIVIA, ExportType.SUPPLIER_PAYOUTS, ExportCommand()
            )
        assert await _invoices(host_engine) == 1
        assert await _exports(host_engine) == 1
        await service.container.generator().idle()
        details = await service.get_export(OLIVIA, requested.export.id)
        assert details.status is ExportStatus.READY


async def test_the_hosts_engine_is_left_open_when_the_service_stops(
    host_engine: AsyncEngine,
) -> None:
    async with _service(host_engine).running():
        pass
    assert await _invoices(host_engine) == 0
