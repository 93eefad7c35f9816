"""Requests no polite client sends, straight through ASGI: still a problem, never a 500."""

from __future__ import annotations

import pytest

from export_resend.main import create_app
from tests.e2e import asgi
from tests.e2e.conftest import OLIVIA, Api
from tests.factories import export


def _headers(api: Api, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in api.headers(OLIVIA).items()] + list(extra)


async def test_a_lone_surrogate_is_invalid_json_and_nothing_is_queued(api: Api) -> None:
    ready = await api.world.add_export(export(OLIVIA))
    for raw in (rb'{"cc": [], "\ud800": 1}', rb'{"cc": ["\udfff@x.io"]}'):
        response = await api.client.post(
            f"/v1/exports/{ready.id}/resend-email",
            headers=api.headers(OLIVIA, **{"content-type": "application/json"}),
            content=raw,
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "INVALID_JSON"
    assert api.world.store.deliveries == {}


async def test_a_content_length_that_is_not_ascii_digits_is_not_a_crash(api: Api) -> None:
    ready = await api.world.add_export(export(OLIVIA))
    response = await asgi.call(
        create_app(container=api.world.container),
        "POST",
        f"/v1/exports/{ready.id}/resend-email",
        headers=_headers(api, (b"content-length", "²".encode("latin-1"))),
    )
    assert (response.status, response.json()["recipients"]["to"]) == (200, OLIVIA.email)


async def test_a_client_that_leaves_mid_body_gets_a_problem_not_a_crash(api: Api) -> None:
    ready = await api.world.add_export(export(OLIVIA))
    response = await asgi.call(
        create_app(container=api.world.container),
        "POST",
        f"/v1/exports/{ready.id}/resend-email",
        headers=_headers(api, (b"content-type", b"application/json")),
        chunks=[b'{"cc": [', b"]}"],
        disconnect_after=1,
    )
    assert (response.status, response.json()["code"]) == (400, "CLIENT_DISCONNECTED")
    assert api.world.store.deliveries == {}


@pytest.mark.parametrize(
    ("path", "code"),
    [("/v1/exports", "VALIDATION_FAILED"), ("/v1/nowhere", "ROUTE_NOT_FOUND")],
)
async def test_a_query_string_that_is_not_utf_8_is_a_problem_not_a_crash(
    api: Api, path: str, code: str
) -> None:
    response = await asgi.call(
        create_app(container=api.world.container),
        "GET",
        path,
        headers=_headers(api),
        query=b"size=\xff",
    )
    assert response.header("content-type") == "application/problem+json"
    assert (response.json()["code"], response.json()["instance"]) == (code, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/exports/"),
        ("POST", "/v1/payments/transactions/export/"),
        ("GET", "/v1/exports/00000000-0000-4000-8000-000000000000/"),
    ],
)
async def test_a_stray_trailing_slash_is_a_404_problem_not_a_redirect(
    api: Api, method: str, path: str
) -> None:
    response = await asgi.call(
        create_app(container=api.world.container), method, path, headers=_headers(api)
    )
    assert (response.status, response.json()["code"]) == (404, "ROUTE_NOT_FOUND")
    assert response.header("location") is None
