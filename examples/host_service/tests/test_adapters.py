"""acme's adapters, held to export-resend's contract suites, and checks of acme's own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acme_billing.data import metadata, payouts
from acme_billing.files import VolumeFileStore
from acme_billing.mailer import Spool, SpoolMailer
from acme_billing.row_source import AcmePayouts
from acme_world import payout
from export_resend.domain.ports import AnyRowSource, FileStore, Mailer
from export_resend.domain.records import ExportScope
from export_resend.testing import FileStoreContract, MailerContract, RowSourceContract
from export_resend.testing.mailer_contract import Mailbox, Received


class SpoolMailbox(Mailbox):
    """What reached acme's spool, as the mailer contract reads it."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    async def received(self) -> Sequence[Received]:
        return [Received(e.sender, e.recipients, e.message) for e in await self._spool.received()]


class TestSpoolMailer(MailerContract):
    @pytest.fixture
    def mailer(self, tmp_path: Path) -> Mailer:
        return SpoolMailer(tmp_path / "spool")

    @pytest.fixture
    def mailbox(self, tmp_path: Path) -> Mailbox:
        return SpoolMailbox(Spool(tmp_path / "spool"))


class TestVolumeFileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self, tmp_path: Path) -> FileStore:
        return VolumeFileStore(tmp_path / "volume")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'acme.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            insert(payouts),
            [
                payout("spo_3"),
                payout("spo_1", "supplier-bolt"),
                payout("spo_2"),
                payout("spo_9", tenant_id="globex"),
            ],
        )
    yield engine
    await engine.dispose()


class TestAcmePayouts(RowSourceContract):
    @pytest.fixture
    async def engine(self, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
        """Enough payouts for the suite to tell streaming from holding them all, of three
        suppliers, and another tenant's."""
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'acme.db'}")
        suppliers = ("supplier-sam", "supplier-bolt", "supplier-delta")
        rows = [
            payout(f"spo_{n:05d}", suppliers[n % 3], computed_at=datetime(2026, 1, 1, n % 24))
            for n in range(self.streaming_min_rows + 500)
        ]
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(insert(payouts), rows)
            await connection.execute(insert(payouts), [payout("spo_x", tenant_id="globex")])
        yield engine
        await engine.dispose()

    @pytest.fixture
    def row_source(self, engine: AsyncEngine) -> AnyRowSource:
        return AcmePayouts(engine, batch=500)

    @pytest.fixture
    def scope(self) -> ExportScope:
        return ExportScope("acme")


async def test_the_payouts_of_a_tenant_come_in_payout_order(engine: AsyncEngine) -> None:
    source = AcmePayouts(engine, batch=2)
    found = [p.payout_id async for p in source.supplier_payouts(ExportScope("acme"))]
    assert found == ["spo_1", "spo_2", "spo_3"]


async def test_a_supplier_gets_its_own_payouts_only(engine: AsyncEngine) -> None:
    source = AcmePayouts(engine)
    scope = ExportScope("acme", supplier_id="supplier-sam")
    assert [p.supplier_id async for p in source.supplier_payouts(scope)] == ["supplier-sam"] * 2


@pytest.fixture
def in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time is New York's (where a naive UTC date read as local time
    would be off by four or five hours)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("in_new_york")
async def test_dates_are_the_stored_utc_moments_whatever_the_local_zone(
    engine: AsyncEngine,
) -> None:
    source = AcmePayouts(engine)
    [first, *_] = [p async for p in source.supplier_payouts(ExportScope("acme"))]
    assert first.computed_at == datetime(2026, 10, 8, 9, 15, tzinfo=UTC)
    assert first.computed_at.utcoffset() is not None
