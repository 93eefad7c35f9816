"""Reading one export: the owner's only, with its effective status."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from export_resend.domain.caller import Caller
from export_resend.domain.errors import ExportForbidden, ExportNotFound
from export_resend.domain.export import ExportStatus
from tests.conftest import World
from tests.factories import NOW, TTL, caller, export

OLIVIA = caller("olivia", "acme")


async def test_the_owner_reads_the_effective_status(world: World) -> None:
    target = await world.add_export(export(OLIVIA, ready_at=NOW - TTL + timedelta(seconds=1)))
    get = world.container.get_export()
    assert (await get(OLIVIA, target.id)).status is ExportStatus.READY
    world.clock.advance(timedelta(seconds=1))
    details = await get(OLIVIA, target.id)
    assert details.status is ExportStatus.EXPIRED
    assert details.export.status is ExportStatus.READY


@pytest.mark.parametrize(
    ("who", "error"),
    [(caller("olivia", "globex"), ExportNotFound), (caller("oscar", "acme"), ExportForbidden)],
)
async def test_others_cannot_read_it(world: World, who: Caller, error: type[Exception]) -> None:
    target = await world.add_export(export(OLIVIA))
    with pytest.raises(error):
        await world.container.get_export()(who, target.id)


async def test_an_unknown_export_is_not_found(world: World) -> None:
    with pytest.raises(ExportNotFound):
        await world.container.get_export()(OLIVIA, uuid4())
