"""The request middleware on a tiny app: request ids, access lines, errors, resend outcomes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from export_resend.adapters.http.access import RESEND_ROUTE, RequestContext
from export_resend.adapters.http.idempotency import mark_replayed
from export_resend.adapters.http.problems import exception_handlers
from export_resend.adapters.prometheus import PrometheusMetrics
from export_resend.domain.errors import ExportNotFound
from tests.logs import Logs, captured_logs

ACCESS = "export_resend.adapters.http.access"
EXPORT_ID = "0b9a4a2e-6a43-4d53-9b1e-4c0f2a9d7e51"


async def _resend(request: Request) -> Response:
    if request.query_params.get("replay"):
        return JSONResponse({}, headers=mark_replayed(request.scope))
    if request.query_params.get("missing"):
        raise ExportNotFound(request.path_params["export_id"])
    return JSONResponse({})


async def _boom(request: Request) -> Response:
    raise RuntimeError("a bug")


async def _broken_stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("the disk went away")

    return StreamingResponse(chunks())


def _app(metrics: PrometheusMetrics) -> Starlette:
    routes = [
        Route(RESEND_ROUTE, _resend, methods=["POST"]),
        Route("/boom", _boom),
        Route("/v1/exports/{export_id}/download", _broken_stream),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext, routes=routes, metrics=metrics)],
        exception_handlers=exception_handlers(),
    )


@pytest.fixture
async def call() -> AsyncIterator[tuple[httpx.AsyncClient, PrometheusMetrics, Logs]]:
    metrics = PrometheusMetrics()
    transport = httpx.ASGITransport(app=_app(metrics), raise_app_exceptions=False)
    with captured_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, metrics, logs


Call = tuple[httpx.AsyncClient, PrometheusMetrics, Logs]


async def test_a_well_formed_request_id_is_kept_and_returned(call: Call) -> None:
    client, _, logs = call
    response = await client.post(
        f"/v1/exports/{EXPORT_ID}/resend-email", headers={"X-Request-Id": "edge-7f3a:42"}
    )
    assert response.headers["X-Request-Id"] == "edge-7f3a:42"
    [line] = logs.events(ACCESS)
    assert line["request_id"] == "edge-7f3a:42"
    assert line["export_id"] == EXPORT_ID


@pytest.mark.parametrize(
    "given", ["", "has space", "x" * 129, "olivia@acme.example.com", "a\u00e9b"], ids=repr
)
async def test_a_malformed_or_missing_request_id_is_replaced_by_a_new_one(
    call: Call, given: str
) -> None:
    client, _, logs = call
    headers = {b"X-Request-Id": given.encode()} if given else {}
    first = await client.post(f"/v1/exports/{EXPORT_ID}/resend-email", headers=headers)
    second = await client.post(f"/v1/exports/{EXPORT_ID}/resend-email", headers=headers)
    ids = {first.headers["X-Request-Id"], second.headers["X-Request-Id"]}
    assert len(ids) == 2
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert {line["request_id"] for line in logs.events(ACCESS)} == ids


async def test_the_access_line_has_the_route_and_status_and_never_the_query(call: Call) -> None:
    client, _, logs = call
    await client.post(f"/v1/exports/{EXPORT_ID}/resend-email?missing=1&token=s3cr3t")
    [line] = logs.events(ACCESS)
    assert line["event"] == f"POST /v1/exports/{EXPORT_ID}/resend-email 404"
    assert (line["method"], line["route"], line["status"], line["code"]) == (
        "POST",
        RESEND_ROUTE,
        404,
        "EXPORT_NOT_FOUND",
    )
    assert line["duration_ms"] >= 0
    assert "s3cr3t" not in logs.text()


async def test_resend_outcomes_are_counted_accepted_replayed_or_by_problem_code(
    call: Call,
) -> None:
    client, metrics, _ = call
    path = f"/v1/exports/{EXPORT_ID}/resend-email"
    for query in ("", "?replay=1", "?missing=1", "?missing=1"):
        await client.post(path + query)
    await client.get(path)  # 405: not a resend

    def count(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "export_resend_resend_requests_total", {"outcome": outcome}
        )

    assert (count("accepted"), count("replayed"), count("EXPORT_NOT_FOUND")) == (1, 1, 2)
    assert count("METHOD_NOT_ALLOWED") is None


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id_logged_once(
    call: Call,
) -> None:
    client, metrics, logs = call
    response = await client.get("/boom", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert response.headers["X-Request-Id"] == "req-500"
    assert response.json()["code"] == "INTERNAL_ERROR"
    failure, access = logs.events(ACCESS)
    assert failure["level"] == "error"
    assert "RuntimeError: a bug" in failure["exception"]
    assert failure["request_id"] == access["request_id"] == "req-500"
    assert (access["status"], access["code"]) == (500, "INTERNAL_ERROR")
    assert (
        metrics.registry.get_sample_value(
            "export_resend_http_requests_total",
            {"method": "GET", "route": "/boom", "status": "500"},
        )
        == 1
    )


async def test_an_error_after_the_response_began_is_logged_and_breaks_the_response_off(
    call: Call,
) -> None:
    client, _, logs = call
    response = await client.get(f"/v1/exports/{EXPORT_ID}/download")
    assert response.content == b"first"  # a server breaks the connection off there
    failure, access = logs.events(ACCESS)
    assert "the disk went away" in failure["exception"]
    assert (access["status"], access["completed"]) == (200, False)
