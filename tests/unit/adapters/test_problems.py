"""The error table: every known error is its problem, and the safety nets hold."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from starlette.requests import Request

from export_resend.adapters.http.problems import INTERNAL_ERROR, PROBLEMS, handle_error
from export_resend.domain.errors import (
    DomainError,
    ExportNotReady,
    InvalidTransition,
    TooManyCcRecipients,
)
from export_resend.domain.export import ExportStatus


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/x", "headers": []})


async def _problem(exc: Exception) -> tuple[int, dict[str, object]]:
    response = await handle_error(_request(), exc)
    assert response.media_type == "application/problem+json"
    return response.status_code, json.loads(bytes(response.body))


def test_codes_are_stable_and_types_unique() -> None:
    uris = {p.uri for p in PROBLEMS.values() if p.code != "VALIDATION_FAILED"}
    assert len(uris) == len(PROBLEMS) - 2  # ValidationFailed and TooManyCcRecipients share one
    assert all(p.uri.startswith("urn:export-resend:problem:") for p in PROBLEMS.values())


async def test_a_rule_without_its_own_row_is_a_409_not_a_500() -> None:
    status, body = await _problem(InvalidTransition(ExportStatus.FAILED, ExportStatus.READY))
    assert (status, body["code"]) == (409, "RULE_VIOLATED")
    assert issubclass(InvalidTransition, DomainError)


async def test_too_many_cc_is_a_size_error_on_cc() -> None:
    status, body = await _problem(TooManyCcRecipients(21, 20))
    assert (status, body["code"]) == (400, "VALIDATION_FAILED")
    assert body["errors"] == [
        {"code": "F-E-010", "field": "cc", "message": "21 CC addresses given, at most 20 allowed"}
    ]


async def test_not_ready_carries_the_status() -> None:
    status, body = await _problem(ExportNotReady(uuid4(), ExportStatus.EXPIRED))
    assert (status, body["exportStatus"]) == (409, "EXPIRED")


@pytest.mark.parametrize("exc", [RuntimeError("db password=hunter2"), KeyError("secret")])
async def test_anything_else_is_a_500_that_says_nothing(exc: Exception) -> None:
    status, body = await _problem(exc)
    assert (status, body["code"]) == (500, INTERNAL_ERROR.code)
    assert "hunter2" not in json.dumps(body)
    assert "secret" not in json.dumps(body)
