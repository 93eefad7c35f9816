"""The export generator in the background: every type generated as requested, and what a
stop cuts off given back without counting it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from dependency_injector import providers

from export_resend.adapters.demo import DemoRowSource
from export_resend.application.request_export import ExportCommand
from export_resend.domain.export import Export, ExportStatus, ExportType
from export_resend.domain.records import ExportScope, SupplierPayout
from tests.conftest import World, make_world
from tests.factories import caller

OLIVIA = caller("olivia", "acme")


async def _request(world: World, export_type: ExportType = ExportType.SUPPLIER_PAYOUTS) -> Export:
    command = ExportCommand(cc=("finance@acme.example.com",))
    requested = await world.container.request_export()(OLIVIA, export_type, command)
    return requested.export


async def _stored(world: World, export_id: UUID) -> Export:
    return world.store.exports[export_id]


async def test_stopping_gives_an_unfinished_generation_back_without_counting_it() -> None:
    world = make_world(demo_rows=1000)
    started = asyncio.Event()

    class Stalled(DemoRowSource):
        def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
            async def rows() -> AsyncIterator[SupplierPayout]:
                started.set()
                await asyncio.Event().wait()  # a host query that never returns
                yield  # type: ignore[misc]

            return rows()

    world.container.row_source.override(providers.Object(Stalled()))
    generator = world.container.generator()
    generator.start()
    export = await _request(world)
    await asyncio.wait_for(started.wait(), 5)
    await generator.stop(grace=0.05)

    job = world.store.jobs[export.id]
    assert (job.attempts, job.lease_id) == (0, None)
    assert job.is_due(world.clock.now())
    assert (await _stored(world, export.id)).status is ExportStatus.PENDING
    assert world.files.keys() == []


@pytest.mark.parametrize("export_type", list(ExportType))
async def test_every_type_is_generated_by_the_generator_running_in_the_background(
    export_type: ExportType,
) -> None:
    world = make_world(demo_rows=50, dispatch_poll_interval=0.01)
    generator = world.container.generator()
    generator.start()
    try:
        export = await _request(world, export_type)
        await asyncio.wait_for(generator.idle(), 5)
    finally:
        await generator.stop()
    assert (await _stored(world, export.id)).status is ExportStatus.READY
