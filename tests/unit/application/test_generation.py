"""Generation as a durable job, on the in-memory adapters: READY with its first email, FAILED
with a reason and nothing left behind, a crash started over, a lost lease, a stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from dependency_injector import providers

from export_resend.adapters.demo import DemoRowSource
from export_resend.application.generation import ClaimedExport
from export_resend.application.request_export import (
    ExportCommand,
    FundingTransfersExportCommand,
)
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.delivery import DeliveryKind
from export_resend.domain.export import Export, ExportStatus, ExportType
from export_resend.domain.ports import FileWriter
from export_resend.domain.records import (
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    MarketplacePayout,
    SupplierPayout,
    TransactionEvent,
    TransactionEventFilters,
)
from tests.conftest import World, make_world
from tests.factories import caller

OLIVIA = caller("olivia", "acme")
SAM = Caller("sam", "sam@acme.example.com", "acme", ClientType.SUPPLIER, "supplier-sam")
RecordT = TypeVar("RecordT")


class BrokenSource(DemoRowSource):
    """The demo's rows, until ``after`` of them: then the host's database goes away."""

    def __init__(self, after: int) -> None:
        super().__init__(rows=5000, seed=1)
        self._after = after

    def transaction_events(
        self, scope: ExportScope, filters: TransactionEventFilters
    ) -> AsyncIterator[TransactionEvent]:
        return self._break(super().transaction_events(scope, filters))

    def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        return self._break(super().supplier_payouts(scope))

    def funding_transfers(
        self, scope: ExportScope, filters: FundingTransferFilters
    ) -> AsyncIterator[FundingTransfer]:
        return self._break(super().funding_transfers(scope, filters))

    def marketplace_payouts(self, scope: ExportScope) -> AsyncIterator[MarketplacePayout]:
        return self._break(super().marketplace_payouts(scope))

    async def _break(self, rows: AsyncIterator[RecordT]) -> AsyncIterator[RecordT]:
        count = 0
        async for row in rows:
            if count == self._after:
                raise ConnectionResetError("the host's database went away")
            count += 1
            yield row


async def _request(world: World, export_type: ExportType = ExportType.SUPPLIER_PAYOUTS) -> Export:
    command = ExportCommand(cc=("finance@acme.example.com",))
    requested = await world.container.request_export()(OLIVIA, export_type, command)
    return requested.export


async def _claim(world: World) -> ClaimedExport:
    [claimed] = await world.container.claim_pending_exports()(10)
    return claimed


async def _stored(world: World, export_id: UUID) -> Export:
    return world.store.exports[export_id]


async def test_a_generated_export_is_ready_with_its_file_and_its_first_email_queued() -> None:
    world = make_world(demo_rows=300)
    export = await _request(world)
    assert world.store.jobs[export.id].attempts == 0

    ready = await world.container.generate_claimed_export()(await _claim(world))

    assert ready is not None
    assert ready == await _stored(world, export.id)
    assert ready.status is ExportStatus.READY
    assert ready.expires_at == world.clock.now() + timedelta(days=7)
    assert ready.file is not None
    assert world.files.keys() == [ready.file.storage_key]
    chunks = await world.files.open(ready.file.storage_key)
    content = b"".join([chunk async for chunk in chunks])
    assert len(content) == ready.file.size_bytes
    assert content.count(b"\n") == ready.file.row_count + 1 == 301
    assert export.id not in world.store.jobs
    [email] = world.deliveries(export.id)
    assert email.kind is DeliveryKind.INITIAL
    assert (email.recipients.to, email.recipients.cc) == (
        OLIVIA.email,
        ("finance@acme.example.com",),
    )


async def test_a_source_that_fails_half_way_leaves_failed_no_file_and_no_email() -> None:
    world = make_world()
    world.container.row_source.override(providers.Object(BrokenSource(after=2500)))
    export = await _request(world)

    failed = await world.container.generate_claimed_export()(await _claim(world))

    assert failed is not None
    assert failed.status is ExportStatus.FAILED
    assert failed.failure_reason == "the row source failed: ConnectionResetError"
    assert await _stored(world, export.id) == failed
    assert world.files.keys() == []
    assert world.deliveries(export.id) == []
    assert world.store.jobs == {}


class FullDisk:
    """A file store whose writes fail once ``limit`` bytes are written."""

    def __init__(self, world: World, limit: int) -> None:
        self._files = world.files
        self._limit = limit

    def writer(self, key: str) -> FullDiskWriter:
        return FullDiskWriter(self._files.writer(key), self._limit)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        return await self._files.open(key)

    async def delete(self, key: str) -> None:
        await self._files.delete(key)


class FullDiskWriter:
    def __init__(self, inner: object, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self._written = 0
        self._writer: FileWriter | None = None

    async def __aenter__(self) -> FullDiskWriter:
        self._writer = await self._inner.__aenter__()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.__aexit__(*exc)  # type: ignore[attr-defined]

    async def write(self, data: bytes) -> None:
        self._written += len(data)
        if self._written > self._limit:
            raise OSError(28, "No space left on device")
        assert self._writer is not None
        await self._writer.write(data)

    async def commit(self) -> None:
        assert self._writer is not None
        await self._writer.commit()


async def test_a_store_that_fails_leaves_failed_no_file_and_no_email() -> None:
    world = make_world(demo_rows=3000)
    world.container.file_store.override(providers.Object(FullDisk(world, limit=50_000)))
    export = await _request(world)

    failed = await world.container.generate_claimed_export()(await _claim(world))

    assert failed is not None
    assert failed.failure_reason == "the file store failed: OSError"
    assert world.files.keys() == []
    assert world.deliveries(export.id) == []


async def test_a_generation_cut_off_by_a_crash_is_claimed_again_when_its_lease_ends() -> None:
    world = make_world(demo_rows=200, generation_lease=timedelta(minutes=5))
    export = await _request(world)
    crashed = await _claim(world)  # and its process died: nothing more happens
    assert await world.container.claim_pending_exports()(10) == []

    world.clock.advance(timedelta(minutes=5))
    again = await _claim(world)
    assert again.job.attempts == 2
    assert again.job.lease_id != crashed.job.lease_id
    ready = await world.container.generate_claimed_export()(again)

    assert ready is not None
    assert ready.status is ExportStatus.READY
    assert len(world.deliveries(export.id)) == 1


async def test_a_generator_that_lost_its_lease_records_nothing_and_deletes_its_file() -> None:
    world = make_world(demo_rows=200, generation_lease=timedelta(minutes=5))
    export = await _request(world)
    slow = await _claim(world)
    world.clock.advance(timedelta(minutes=5))
    fast = await _claim(world)
    generate = world.container.generate_claimed_export()

    assert await generate(fast) is not None
    assert await generate(slow) is None

    ready = await _stored(world, export.id)
    assert ready.file is not None
    assert world.files.keys() == [ready.file.storage_key]
    assert len(world.deliveries(export.id)) == 1


async def test_an_export_cut_off_too_many_times_is_failed_rather_than_retried_forever() -> None:
    world = make_world(generation_lease=timedelta(minutes=5), generation_max_attempts=2)
    export = await _request(world)
    for _ in range(2):
        await _claim(world)
        world.clock.advance(timedelta(minutes=5))

    failed = await world.container.generate_claimed_export()(await _claim(world))

    assert failed is not None
    assert failed.failure_reason == "generation was cut off 2 times; given up"
    assert world.store.jobs == {}
    assert world.deliveries(export.id) == []


async def test_a_supplier_s_export_is_scoped_to_it_and_its_supplier_filter_ignored() -> None:
    world = make_world()
    command = FundingTransfersExportCommand.model_validate({"supplier_ids": ["supplier-acme"]})
    requested = await world.container.request_export()(SAM, ExportType.FUNDING_TRANSFERS, command)
    assert requested.export.supplier_scope == "supplier-sam"
    assert requested.export.filters == FundingTransferFilters()
