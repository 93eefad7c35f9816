"""/livez, /readyz and /metrics on the real app, and the request id on every answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from export_resend.application.check_readiness import DatabaseProbe
from export_resend.main import create_app
from tests.conftest import World, make_world
from tests.e2e.conftest import OLIVIA, OSCAR, Api
from tests.factories import export
from tests.logs import captured_logs


def _samples(page: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if s.name == name
    }


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
async def test_health_checks_need_no_key_and_answer_ok(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


class _Gone(DatabaseProbe):
    async def ping(self) -> None:
        raise ConnectionRefusedError("connect to db.internal:5432 refused")


@pytest.fixture
async def gone(world: World) -> AsyncIterator[httpx.AsyncClient]:
    world.container.database_probe.override(providers.Object(_Gone()))
    app = create_app(container=world.container)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


async def test_without_its_database_the_service_is_alive_but_not_ready(
    gone: httpx.AsyncClient,
) -> None:
    assert (await gone.get("/livez")).status_code == 200
    response = await gone.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["detail"]) == ("NOT_READY", "the database cannot be reached")
    assert "db.internal" not in response.text


async def test_metrics_need_no_key_and_count_resends_by_outcome(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    url = f"/v1/exports/{target.id}/resend-email"
    await api.client.post(url, headers=api.headers(OLIVIA))
    await api.client.post(url, headers=api.headers(OSCAR))
    await api.client.post(f"/v1/exports/{uuid4()}/resend-email", headers=api.headers(OLIVIA))
    await api.client.post(url, headers={"dj-api-key": "nope", "dj-client": "OPERATOR"})
    await api.world.container.dispatcher().idle()

    response = await api.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    page = response.text
    assert _samples(page, "export_resend_resend_requests_total") == {
        (("outcome", "accepted"),): 1.0,
        (("outcome", "EXPORT_FORBIDDEN"),): 1.0,
        (("outcome", "EXPORT_NOT_FOUND"),): 1.0,
        (("outcome", "UNAUTHENTICATED"),): 1.0,
    }
    attempts = _samples(page, "export_resend_send_attempts_total")
    assert attempts[(("result", "accepted"),)] == 1.0
    route = "/v1/exports/{export_id}/resend-email"
    requests = _samples(page, "export_resend_http_requests_total")
    assert requests[(("method", "POST"), ("route", route), ("status", "200"))] == 1.0
    assert requests[(("method", "POST"), ("route", route), ("status", "401"))] == 1.0
    assert _samples(page, "export_resend_queue_depth") == {
        (("queue", "outbox"),): 0.0,
        (("queue", "generation"),): 0.0,
    }


async def test_two_apps_in_one_process_keep_their_own_counts(api: Api) -> None:
    await api.client.post(f"/v1/exports/{uuid4()}/resend-email", headers=api.headers(OLIVIA))
    other = create_app(container=make_world().container)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = (await client.get("/metrics")).text
    assert _samples(page, "export_resend_resend_requests_total") == {
        (("outcome", "accepted"),): 0.0
    }


async def test_every_answer_carries_a_request_id_and_its_log_lines_too(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    with captured_logs() as logs:
        given = await api.client.post(
            f"/v1/exports/{target.id}/resend-email",
            headers={**api.headers(OLIVIA), "X-Request-Id": "lb-1234"},
        )
        made = await api.client.get("/v1/exports", headers=api.headers(OLIVIA))
        missing = await api.client.get("/no/such/route")
    assert given.headers["X-Request-Id"] == "lb-1234"
    assert len(made.headers["X-Request-Id"]) == 32
    assert missing.status_code == 404
    assert missing.headers["X-Request-Id"]
    by_request = {line["request_id"]: line for line in logs.lines() if "request_id" in line}
    assert set(by_request) >= {"lb-1234", made.headers["X-Request-Id"]}
    queued = [line for line in logs.lines() if "queued: a resend" in line["event"]]
    assert [line["request_id"] for line in queued] == ["lb-1234"]
    assert queued[0]["export_id"] == str(target.id)
