"""Two ``export-resend serve`` processes on one PostgreSQL database: an Idempotency-Key and
the resend limit hold across them, under concurrent requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from export_resend.adapters.sql import AsyncpgUnitOfWork, Database
from export_resend.domain.delivery import DeliveryKind
from tests.conftest import LINK_SECRET
from tests.postgres import migrated_scratch_database
from tests.processes import environment, serving

pytestmark = pytest.mark.postgres


@pytest.fixture
async def shared() -> AsyncIterator[tuple[str, Database]]:
    async with migrated_scratch_database(pool_size=2) as opened:
        yield opened


def _env(url: str) -> dict[str, str]:
    return environment(database_url=url, link_secret=LINK_SECRET, serve_dispatcher="false")


def _demo(url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "export_resend.cli", "demo", "--json"],
        env=_env(url),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    demo: dict[str, Any] = json.loads(done.stdout)
    return demo


@contextlib.contextmanager
def _servers(url: str, count: int) -> Iterator[list[str]]:
    """``count`` serve processes on ``url``; yields their base URLs."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serving(_env(url)))[1] for _ in range(count)]


async def _resends(database: Database, export_id: UUID) -> int:
    async with AsyncpgUnitOfWork(database.engine) as uow:
        found = await uow.deliveries.list_for_export(export_id)
    return sum(d.kind is DeliveryKind.RESEND for d in found)


def _olivia(demo: dict[str, Any]) -> tuple[dict[str, str], UUID]:
    olivia = next(u for u in demo["users"] if u["name"] == "olivia")
    ready = next(e for e in demo["exports"] if e["name"] == "olivia-ready")
    headers = {"dj-client": olivia["client"], "dj-api-key": olivia["apiKey"]}
    return headers, UUID(ready["id"])


async def test_one_key_sent_to_two_processes_at_once_queues_one_email(
    shared: tuple[str, Database],
) -> None:
    url, database = shared
    headers, export_id = _olivia(_demo(url))
    key = {"Idempotency-Key": f"retry-{uuid4()}"}
    body = {"cc": ["finance@demo.example.com"]}
    with _servers(url, 2) as bases:
        async with httpx.AsyncClient(timeout=20) as client:

            async def post(base: str) -> httpx.Response:
                return await client.post(
                    f"{base}/v1/exports/{export_id}/resend-email",
                    headers={**headers, **key},
                    json=body,
                )

            first = await asyncio.gather(*(post(bases[i % 2]) for i in range(16)))
            outcomes = Counter(
                (r.status_code, r.headers.get("Idempotent-Replayed"), r.json().get("code"))
                for r in first
            )
            # once every request has ended, a retry anywhere gets the stored answer
            again = await asyncio.gather(post(bases[0]), post(bases[1]))
    fresh = [r for r in first if r.status_code == 200 and "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1, outcomes
    assert set(outcomes) <= {
        (200, None, None),
        (200, "true", None),
        (409, None, "IDEMPOTENCY_KEY_IN_USE"),
    }, outcomes
    assert all(r.headers["Retry-After"].isdigit() for r in first if r.status_code == 409), outcomes
    for replay in [*(r for r in first if r.status_code == 200), *again]:
        assert replay.json() == fresh[0].json()
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in again)
    assert await _resends(database, export_id) == 1


async def test_the_resend_limit_is_shared_by_two_processes(
    shared: tuple[str, Database],
) -> None:
    url, database = shared
    headers, export_id = _olivia(_demo(url))
    with _servers(url, 2) as bases:
        async with httpx.AsyncClient(timeout=20) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{bases[i % 2]}/v1/exports/{export_id}/resend-email", headers=headers
                    )
                    for i in range(12)
                )
            )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 5, 429: 7}, statuses
    limited = [r for r in responses if r.status_code == 429]
    assert all(r.json()["code"] == "RATE_LIMITED" for r in limited)
    assert all(0 < int(r.headers["Retry-After"]) <= 3600 for r in limited)
    assert await _resends(database, export_id) == 5
