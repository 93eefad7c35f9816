"""The demo data: every outcome of the API is one curl away, and seeding is idempotent."""

from __future__ import annotations

from export_resend.domain.api_keys import ApiKey
from export_resend.domain.caller import ClientType
from export_resend.domain.export import ExportStatus
from tests.conftest import World
from tests.factories import NOW


async def test_demo_has_the_users_and_exports_the_spec_lists(world: World) -> None:
    data = await world.container.seed_demo()()
    assert [(u.name, u.caller.tenant_id, u.caller.client_type) for u in data.users] == [
        ("olivia", "demo", ClientType.OPERATOR),
        ("oscar", "demo", ClientType.OPERATOR),
        ("sam", "demo", ClientType.SUPPLIER),
        ("otto", "other", ClientType.OPERATOR),
    ]
    olivias = [e.export for e in data.exports if e.owner == "olivia"]
    assert {e.effective_status(NOW) for e in olivias} == set(ExportStatus)
    assert len([e for e in olivias if e.cc and e.status is ExportStatus.READY]) == 1
    assert data.export("sam-ready").export.status is ExportStatus.READY
    assert data.export("otto-ready").export.tenant_id == "other"
    for user in data.users:
        assert await world.api_keys.find_caller(ApiKey.parse(user.api_key).sha256) == user.caller


async def test_seeding_twice_changes_nothing(world: World) -> None:
    first = await world.container.seed_demo()()
    stored = dict(world.store.exports)
    world.clock.advance(NOW - NOW.replace(hour=0))
    second = await world.container.seed_demo()()
    assert world.store.exports == stored
    assert second == first
