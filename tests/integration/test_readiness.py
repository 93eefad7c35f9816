"""/readyz against a real PostgreSQL behind a proxy that makes it hang, come back, and vanish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from export_resend.main import create_app
from export_resend.settings import Settings
from tests.conftest import LINK_SECRET
from tests.proxy import TcpProxy

TIMEOUT = 0.3


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def client(postgres_url: str, proxy: TcpProxy) -> AsyncIterator[httpx.AsyncClient]:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings.model_validate(
        {
            "database_url": url.render_as_string(hide_password=False),
            "link_secret": LINK_SECRET,
            "readiness_timeout": TIMEOUT,
            "serve_dispatcher": False,
            "database_pool_size": 2,
        }
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client
        await proxy.close()  # let the pool's connections end before it is disposed of


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - started


async def test_ready_while_postgresql_answers_then_not_ready_in_time_while_it_hangs(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    proxy.hang()
    for _ in range(3):  # each answers in time; the hung ping is not repeated
        response, took = await _timed(client, "/readyz")
        assert response.status_code == 503
        assert response.json()["code"] == "NOT_READY"
        assert response.json()["detail"] == f"the database did not answer within {TIMEOUT} s"
        assert took < TIMEOUT + 1
    live, _ = await _timed(client, "/livez")
    assert live.status_code == 200
    metrics, took = await _timed(client, "/metrics")
    assert metrics.status_code == 200  # the counters, without the queues
    assert "export_resend_queue_depth{" not in metrics.text
    assert took < TIMEOUT + 1
    proxy.resume()
    async with asyncio.timeout(10):  # the hung ping ends, and a new one succeeds
        while True:
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.05)


async def test_not_ready_once_postgresql_is_gone(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    await proxy.close()
    response, took = await _timed(client, "/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] in {
        "the database cannot be reached",
        f"the database did not answer within {TIMEOUT} s",
    }
    assert took < TIMEOUT + 1
    again, _ = await _timed(client, "/readyz")
    assert again.json()["detail"] == "the database cannot be reached"
