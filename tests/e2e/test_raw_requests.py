"""Requests no polite client sends, straight through ASGI: still a problem, never a 500."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

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


def _arabic_indic(text: str) -> str:
    return "".join(chr(0x660 + int(c)) if c.isdigit() else c for c in text)


_NOT_UUID_STRINGS = {
    "braces": "{{{id}}}",
    "urn": "urn:uuid:{id}",
    "no-hyphens": "{hex}",
    "hyphen-everywhere": "{dashed}",
    "arabic-indic-digits": "{arabic}",
    "sign": "+{hex_tail}",
    "space": " {hex_tail}",
}
"""Forms ``uuid.UUID`` reads as an id, and OpenAPI's ``format: uuid`` does not allow."""


@pytest.mark.parametrize("form", _NOT_UUID_STRINGS.values(), ids=_NOT_UUID_STRINGS.keys())
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/emails"), ("POST", "/resend-email"), ("GET", "/download")],
    ids=["get", "emails", "resend", "download"],
)
async def test_an_export_id_in_any_form_but_the_uuid_string_is_a_400(
    api: Api, method: str, suffix: str, form: str
) -> None:
    ready = await api.world.add_export(export(OLIVIA))
    text = form.format(
        id=ready.id,
        hex=ready.id.hex,
        dashed="-".join(ready.id.hex),
        arabic=_arabic_indic(str(ready.id)),
        hex_tail=ready.id.hex[1:],
    )
    response = await asgi.call(
        create_app(container=api.world.container),
        method,
        f"/v1/exports/{text}{suffix}",
        headers=_headers(api),
        query=b"token=x" if suffix == "/download" else b"",
    )
    assert (response.status, response.json()["code"]) == (400, "VALIDATION_FAILED")
    assert response.json()["errors"][0]["field"] == "exportId"
    assert api.world.store.deliveries == {}


async def test_an_export_id_in_upper_case_is_the_same_export(api: Api) -> None:
    """RFC 9562: the hex digits of a UUID are case-insensitive on input."""
    ready = await api.world.add_export(export(OLIVIA))
    response = await asgi.call(
        create_app(container=api.world.container),
        "GET",
        f"/v1/exports/{str(ready.id).upper()}",
        headers=_headers(api),
    )
    assert (response.status, response.json()["exportId"]) == (200, str(ready.id))


@pytest.mark.parametrize(
    ("length", "answer"),
    [(b"9" * 5000, 413), (b"0" * 5000 + b"2", 200)],
    ids=["over-int-max-str-digits", "padded-with-zeros"],
)
async def test_a_content_length_of_thousands_of_digits_is_not_a_crash(
    api: Api, length: bytes, answer: int
) -> None:
    """Python reads no integer of more than 4,300 digits from text (CVE-2020-10735)."""
    ready = await api.world.add_export(export(OLIVIA))
    response = await asgi.call(
        create_app(container=api.world.container),
        "POST",
        f"/v1/exports/{ready.id}/resend-email",
        headers=_headers(api, (b"content-type", b"application/json"), (b"content-length", length)),
        chunks=[b"{}"],
    )
    assert response.status == answer, response.body
    if answer == 413:
        assert (response.json()["code"], response.reads) == ("PAYLOAD_TOO_LARGE", 0)


@pytest.mark.parametrize("slash", ["%2f", "%2F"])
@pytest.mark.parametrize("route", ["emails", "resend-email", "download?token=t"])
async def test_an_encoded_slash_in_the_path_reaches_no_route(
    api: Api, slash: str, route: str
) -> None:
    """``/v1/exports/{id}%2Femails`` decodes to the emails route's path; a client meant an
    export id holding a ``/``, so it names no route (docs/decisions.md)."""
    target = await api.world.add_export(export(OLIVIA))
    method = "POST" if route == "resend-email" else "GET"
    response = await api.client.request(
        method, f"/v1/exports/{target.id}{slash}{route}", headers=api.headers(OLIVIA)
    )
    assert (response.status_code, response.json()["code"]) == (404, "ROUTE_NOT_FOUND")
    assert api.world.deliveries(target.id) == []


async def test_an_encoded_slash_reaches_no_route_of_an_app_a_host_mounts(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    host = Starlette(routes=[Mount("/exports-api", app=create_app(container=api.world.container))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
        plain = await client.get(
            f"/exports-api/v1/exports/{target.id}/emails", headers=api.headers(OLIVIA)
        )
        encoded = await client.get(
            f"/exports-api/v1/exports/{target.id}%2Femails", headers=api.headers(OLIVIA)
        )
    assert plain.status_code == 200
    assert (encoded.status_code, encoded.json()["code"]) == (404, "ROUTE_NOT_FOUND")


async def test_a_percent_that_encodes_no_slash_is_answered_as_before(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    response = await api.client.get(
        f"/v1/exports/{target.id}%2Demails", headers=api.headers(OLIVIA)
    )
    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_FAILED")
