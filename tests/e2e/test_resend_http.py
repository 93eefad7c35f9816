"""POST /v1/exports/{exportId}/resend-email and GET /v1/exports/{exportId}, over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from dependency_injector import providers

from export_resend.domain.export import Export, ExportStatus
from export_resend.main import create_app
from tests.e2e.conftest import OLIVIA, Api
from tests.factories import NOW, TTL, export

PROBLEM = "application/problem+json"


def _url(target: Export | str) -> str:
    export_id = target if isinstance(target, str) else target.id
    return f"/v1/exports/{export_id}/resend-email"


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:export-resend:problem:{code.lower().replace('_', '-')}"
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    return body


async def _ready(api: Api, cc: tuple[str, ...] = ()) -> Export:
    return await api.world.add_export(export(OLIVIA, cc=cc))


async def _sent(api: Api) -> list[dict[str, str]]:
    await api.world.container.dispatcher().idle()
    return [dict(e.message.items()) for e in api.world.mailer.sent]


class TestSuccess:
    async def test_resend_answers_with_recipients_delivery_and_warnings(self, api: Api) -> None:
        target = await _ready(api)
        response = await api.client.post(
            _url(target), headers=api.headers(OLIVIA), json={"cc": ["a@x.io"]}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        delivery = api.world.deliveries(target.id)[0]
        assert body == {
            "exportId": str(target.id),
            "exportType": "TRANSACTION_EVENTS",
            "status": "READY",
            "recipients": {"to": OLIVIA.email, "cc": ["a@x.io"]},
            "delivery": {
                "id": str(delivery.id),
                "status": "QUEUED",
                "queuedAt": NOW.isoformat().replace("+00:00", "Z"),
            },
            "warnings": [],
        }

    async def test_the_email_goes_to_exactly_the_recipients_of_the_response(self, api: Api) -> None:
        target = await _ready(api)
        body = (
            await api.client.post(
                _url(target), headers=api.headers(OLIVIA), json={"cc": ["a@x.io", "b@x.io"]}
            )
        ).json()
        [sent] = await _sent(api)
        assert sent["To"] == body["recipients"]["to"]
        assert sent["Cc"] == ", ".join(body["recipients"]["cc"])
        assert api.world.mailer.sent[0].recipients == (OLIVIA.email, "a@x.io", "b@x.io")

    async def test_no_body_keeps_the_original_cc(self, api: Api) -> None:
        target = await _ready(api, cc=("finance@acme.example.com",))
        response = await api.client.post(_url(target), headers=api.headers(OLIVIA))
        assert response.json()["recipients"]["cc"] == ["finance@acme.example.com"]
        assert (await _sent(api))[0]["Cc"] == "finance@acme.example.com"

    @pytest.mark.parametrize("body", [{"cc": None}, {}, None])
    async def test_null_or_absent_cc_keeps_the_original(
        self, api: Api, body: dict[str, Any] | None
    ) -> None:
        target = await _ready(api, cc=("finance@acme.example.com",))
        response = await api.client.post(
            _url(target),
            headers=api.headers(OLIVIA, **{"content-type": "application/json"}),
            content=json.dumps(body),
        )
        assert response.json()["recipients"]["cc"] == ["finance@acme.example.com"]

    async def test_empty_cc_sends_with_no_cc(self, api: Api) -> None:
        target = await _ready(api, cc=("finance@acme.example.com",))
        response = await api.client.post(_url(target), headers=api.headers(OLIVIA), json={"cc": []})
        assert response.json()["recipients"] == {"to": OLIVIA.email, "cc": []}
        [sent] = await _sent(api)
        assert "Cc" not in sent
        assert api.world.mailer.sent[0].recipients == (OLIVIA.email,)

    async def test_the_callers_own_address_in_cc_is_dropped_with_a_warning(self, api: Api) -> None:
        target = await _ready(api)
        response = await api.client.post(
            _url(target),
            headers=api.headers(OLIVIA),
            json={"cc": ["a@x.io", OLIVIA.email.upper()]},
        )
        body = response.json()
        assert body["recipients"]["cc"] == ["a@x.io"]
        assert body["warnings"] == [
            {
                "code": "CC_PRIMARY_RECIPIENT_REMOVED",
                "field": "cc[1]",
                "message": "OLIVIA@acme.example.com is the primary recipient (To); not copied",
            }
        ]

    async def test_the_to_is_the_caller_whatever_the_body_says(self, api: Api) -> None:
        target = await _ready(api)
        response = await api.client.post(
            _url(target),
            headers=api.headers(OLIVIA),
            json={"to": "attacker@evil.example", "bcc": ["spy@evil.example"], "cc": []},
        )
        body = response.json()
        assert body["recipients"] == {"to": OLIVIA.email, "cc": []}
        assert [(w["code"], w["field"]) for w in body["warnings"]] == [
            ("FIELD_IGNORED", "to"),
            ("FIELD_IGNORED", "bcc"),
        ]
        [sent] = await _sent(api)
        assert sent["To"] == OLIVIA.email
        assert "Bcc" not in sent
        assert api.world.mailer.sent[0].recipients == (OLIVIA.email,)

    async def test_json_with_charset_and_json_suffix_types_are_accepted(self, api: Api) -> None:
        target = await _ready(api)
        for content_type in ("application/json; charset=UTF-8", "application/merge+json"):
            response = await api.client.post(
                _url(target),
                headers=api.headers(OLIVIA, **{"content-type": content_type}),
                content=b'{"cc": []}',
            )
            assert response.status_code == 200, content_type

    async def test_get_shows_the_export_with_its_effective_status(self, api: Api) -> None:
        target = await api.world.add_export(export(OLIVIA, ready_at=NOW - TTL, cc=("a@x.io",)))
        response = await api.client.get(f"/v1/exports/{target.id}", headers=api.headers(OLIVIA))
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "EXPIRED"
        assert body["exportId"] == str(target.id)
        assert body["cc"] == ["a@x.io"]
        assert (body["rowCount"], body["sizeBytes"]) == (4_321, 1_234_567)
        assert body["expiresAt"] == NOW.isoformat().replace("+00:00", "Z")


class TestErrorTable:
    """401, 403, 404 across tenants and owners, and 413: tests/e2e/test_security_matrix.py."""

    async def test_404_for_an_unknown_export(self, api: Api) -> None:
        response = await api.client.post(_url(str(uuid4())), headers=api.headers(OLIVIA))
        _problem(response, 404, "EXPORT_NOT_FOUND")

    @pytest.mark.parametrize(
        "status", [ExportStatus.PENDING, ExportStatus.FAILED, ExportStatus.EXPIRED]
    )
    async def test_409_not_ready_names_the_status(self, api: Api, status: ExportStatus) -> None:
        target = await api.world.add_export(export(OLIVIA, status))
        response = await api.client.post(_url(target), headers=api.headers(OLIVIA))
        body = _problem(response, 409, "EXPORT_NOT_READY")
        assert body["exportStatus"] == status.value
        assert api.world.store.deliveries == {}

    async def test_409_expired_once_expires_at_has_passed(self, api: Api) -> None:
        target = await api.world.add_export(export(OLIVIA, ready_at=NOW - TTL + timedelta(1)))
        api.world.clock.advance(timedelta(days=1))
        response = await api.client.post(_url(target), headers=api.headers(OLIVIA))
        assert _problem(response, 409, "EXPORT_NOT_READY")["exportStatus"] == "EXPIRED"

    @pytest.mark.parametrize(
        ("body", "errors"),
        [
            (
                {"cc": ["ok@x.io", "Boss <boss@x.io>"]},
                [("F-E-012", "cc[1]")],
            ),
            ({"cc": ["a@x.io\r\nBcc: spy@evil.example"]}, [("F-E-012", "cc[0]")]),
            ({"cc": ["=?utf-8?q?x?=@x.io"]}, [("F-E-012", "cc[0]")]),
            ({"cc": [f"p{i}@x.io" for i in range(21)]}, [("F-E-010", "cc")]),
            ({"cc": "a@x.io"}, [("F-E-012", "cc")]),
            ({"cc": [1, "a@x.io", None]}, [("F-E-012", "cc[0]"), ("F-E-012", "cc[2]")]),
            (["a@x.io"], [("F-E-012", "body")]),
            ("a@x.io", [("F-E-012", "body")]),
        ],
    )
    async def test_400_validation_names_each_field_at_fault(
        self, api: Api, body: object, errors: list[tuple[str, str]]
    ) -> None:
        target = await _ready(api)
        response = await api.client.post(_url(target), headers=api.headers(OLIVIA), json=body)
        problem = _problem(response, 400, "VALIDATION_FAILED")
        assert [(e["code"], e["field"]) for e in problem["errors"]] == errors
        assert all(e["message"] for e in problem["errors"])
        assert api.world.store.deliveries == {}

    async def test_400_for_an_export_id_that_is_not_a_uuid(self, api: Api) -> None:
        response = await api.client.post(_url("12345"), headers=api.headers(OLIVIA))
        problem = _problem(response, 400, "VALIDATION_FAILED")
        assert problem["errors"] == [
            {"code": "F-E-012", "field": "exportId", "message": "must be a UUID"}
        ]

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"cc": [',
            b"{'cc': []}",
            b'{"cc": [], "cc": ["a@x.io"]}',
            b'{"cc": NaN}',
            b"\xff\xfe{}",
            b"[" * 10_000,
        ],
    )
    async def test_400_for_a_body_that_is_not_json(self, api: Api, raw: bytes) -> None:
        target = await _ready(api)
        response = await api.client.post(
            _url(target),
            headers=api.headers(OLIVIA, **{"content-type": "application/json"}),
            content=raw,
        )
        problem = _problem(response, 400, "INVALID_JSON")
        assert [(e["code"], e["field"]) for e in problem["errors"]] == [("F-E-012", "body")]

    @pytest.mark.parametrize(
        "content_type",
        [
            None,
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin-1",
        ],
    )
    async def test_415_for_a_body_that_is_not_declared_json(
        self, api: Api, content_type: str | None
    ) -> None:
        target = await _ready(api)
        headers = api.headers(OLIVIA)
        if content_type is not None:
            headers["content-type"] = content_type
        response = await api.client.post(_url(target), headers=headers, content=b'{"cc": []}')
        _problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")

    async def test_get_with_an_id_that_is_not_a_uuid_is_a_400(self, api: Api) -> None:
        _problem(
            await api.client.get("/v1/exports/nope", headers=api.headers(OLIVIA)),
            400,
            "VALIDATION_FAILED",
        )

    async def test_unknown_routes_and_methods_are_problems_too(self, api: Api) -> None:
        _problem(await api.client.get("/nowhere"), 404, "ROUTE_NOT_FOUND")
        target = await _ready(api)
        response = await api.client.get(_url(target))
        _problem(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "POST"

    async def test_a_crash_is_a_500_problem_that_reveals_nothing(self, api: Api) -> None:
        class Broken:
            async def __call__(self, *args: object) -> None:
                raise RuntimeError("secret database password in this message")

        with api.world.container.resend_export_email.override(providers.Object(Broken())):
            app = create_app(container=api.world.container)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                target = await _ready(api)
                response = await client.post(_url(target), headers=api.headers(OLIVIA))
        _problem(response, 500, "INTERNAL_ERROR")
        assert "secret" not in response.text
