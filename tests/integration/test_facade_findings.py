"""What a host developer met while writing docs/embedding.md and the example host: a host's
SQLite engine used before the service is built, and a source subclassing the whole port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from export_resend import ExportResend, Settings
from export_resend.adapters.memory import InMemoryFileStore, InMemoryMailer
from export_resend.domain.errors import ExportNotFound
from export_resend.domain.export import ExportType
from export_resend.domain.ports import RowSource
from export_resend.domain.records import ExportScope, SupplierPayout, SupplierPayoutStatus
from tests.conftest import LINK_SECRET
from tests.factories import caller

OLIVIA = caller("olivia", "acme")


async def test_a_host_sqlite_engine_used_before_the_service_is_built_reads_while_the_host_writes(
    tmp_path: Path,
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'host.db'}")
    async with engine.begin() as connection:  # the host's own schema, first
        await connection.execute(text("CREATE TABLE invoices (id VARCHAR(40) PRIMARY KEY)"))
    service = ExportResend(
        Settings.model_validate({"link_secret": LINK_SECRET, "serve_dispatcher": False}),
        engine=engine,
        mailer=InMemoryMailer(),
        file_store=InMemoryFileStore(),
    )
    try:
        async with service.running(), engine.begin() as connection:
            await connection.execute(text("INSERT INTO invoices VALUES ('inv-1')"))
            with pytest.raises(ExportNotFound):  # not "database is locked"
                await service.get_export(OLIVIA, uuid4())
    finally:
        await engine.dispose()


class PayoutsThroughTheWholePort(RowSource):
    """A source that subclasses ``RowSource`` (as docs/exports.md once taught) and
    implements supplier payouts only."""

    async def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        yield SupplierPayout(
            payout_id="spo_1",
            supplier_id="supplier-sam",
            supplier_name="Sam",
            status=SupplierPayoutStatus.SETTLED,
            amount=Decimal("1.00"),
            currency="EUR",
            order_count=1,
            period_start=datetime(2026, 1, 1, tzinfo=UTC),
            period_end=datetime(2026, 1, 8, tzinfo=UTC),
            computed_at=datetime(2026, 1, 8, tzinfo=UTC),
            settled_at=datetime(2026, 1, 9, tzinfo=UTC),
            failure_reason=None,
        )


def test_a_source_subclassing_row_source_serves_only_the_types_it_implements() -> None:
    service = ExportResend(
        Settings.model_validate({"database_url": "memory://", "link_secret": LINK_SECRET}),
        row_source=PayoutsThroughTheWholePort(),  # type: ignore[abstract]
    )
    assert service.export_types == {ExportType.SUPPLIER_PAYOUTS}
