"""Requests no polite client sends, straight through ASGI: still a problem, never a 500."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message

from export_resend.main import create_app
from tests.conftest import World
from tests.e2e.conftest import OLIVIA, Api
from tests.factories import export


async def _raw(
    world: World, path: str, headers: list[tuple[bytes, bytes]], messages: list[Message]
) -> tuple[int, dict[str, Any]]:
    app = create_app(container=world.container)
    sent: list[Message] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


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
    status, body = await _raw(
        api.world,
        f"/v1/exports/{ready.id}/resend-email",
        _headers(api, (b"content-length", "²".encode("latin-1"))),
        [{"type": "http.request", "body": b"", "more_body": False}],
    )
    assert (status, body["recipients"]["to"]) == (200, OLIVIA.email)


async def test_a_client_that_leaves_mid_body_gets_a_problem_not_a_crash(api: Api) -> None:
    ready = await api.world.add_export(export(OLIVIA))
    status, body = await _raw(
        api.world,
        f"/v1/exports/{ready.id}/resend-email",
        _headers(api, (b"content-type", b"application/json")),
        [
            {"type": "http.request", "body": b'{"cc": [', "more_body": True},
            {"type": "http.disconnect"},
        ],
    )
    assert (status, body["code"]) == (400, "CLIENT_DISCONNECTED")
    assert api.world.store.deliveries == {}
