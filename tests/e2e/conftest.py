"""The HTTP app built by ``create_app`` over an in-memory world, with its lifespan running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from export_resend.domain.caller import Caller, ClientType
from export_resend.main import create_app
from tests.conftest import World
from tests.factories import caller

OLIVIA = caller("olivia", "acme")
OSCAR = caller("oscar", "acme")
OTTO = caller("otto", "globex")
SAM = caller("sam", "acme", ClientType.SUPPLIER)


@dataclass
class Api:
    """An HTTP client on the app, and the world behind it."""

    client: httpx.AsyncClient
    world: World

    def headers(self, who: Caller, **extra: str) -> dict[str, str]:
        key = self.world.keys[f"{who.user_id}@{who.tenant_id}"]
        return {"dj-api-key": key, "dj-client": who.client_type.value, **extra}


@pytest.fixture
async def api(world: World) -> AsyncIterator[Api]:
    for who in (OLIVIA, OSCAR, OTTO, SAM):
        await world.add_caller(who)
    app = create_app(container=world.container)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield Api(client, world)
