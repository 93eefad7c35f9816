"""The whole document, and the endpoint that serves it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from export_resend.adapters.http.openapi.components import (
    HEADERS,
    PARAMETERS,
    component_schemas,
    problem_headers,
    ref,
)
from export_resend.adapters.http.openapi.operations import METRICS_PATH, operations
from export_resend.adapters.http.openapi.problem_examples import DEFAULT_EXAMPLES
from export_resend.adapters.http.problems import METHOD_NOT_ALLOWED, PROBLEM_MEDIA_TYPE
from export_resend.domain.export import ExportType

_DESCRIPTION = """\
Send, and send again, the "your export is ready" email of a payments platform; request
exports, follow them, download their files.

**Authentication.** Every `/v1` route except the download needs two headers: `dj-api-key`
(the key, shown once when it was created) and `dj-client` (`OPERATOR`, `SUPPLIER` or
`ACCOUNT`, the key's user's client type). A missing or unknown key is a 401; another client
type is a 403. The download link's `token` is its own credential.

**Errors** are `application/problem+json` (RFC 9457) with a stable `type` URN per `code`;
a 400 lists `errors: [{code, field, message}]` with the platform's field codes (`F-E-001`
missing, `F-E-008` not in enum, `F-E-010` size limit exceeded, `F-E-012` bad format).

**Retries.** Every POST takes an optional `Idempotency-Key`; **resends** are limited per
export per rolling hour (429 with `Retry-After`). The policies are in docs/api.md.
"""


def openapi_document(
    export_routes: Mapping[str, ExportType], *, metrics: bool = True
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the service whose export requests are ``export_routes``
    (``POST /v1/payments/{name}/export`` for each name), with ``/metrics`` if it serves it."""
    paths: dict[str, Any] = {}
    for operation in operations(export_routes):
        if operation.path == METRICS_PATH and not metrics:
            continue
        paths.setdefault(operation.path, {})[operation.method] = operation.as_openapi()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "export-resend",
            "version": version("export-resend"),
            "summary": "The export email service of a payments platform.",
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": "Exports", "description": "The caller's exports, their emails and files."},
            {"name": "Export requests", "description": "Ask for a new export."},
            {"name": "Service", "description": "The service's description and health."},
        ],
        "security": [{"djApiKey": []}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "djApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "dj-api-key",
                    "description": (
                        "The caller's API key; `dj-client` must name its user's client type."
                    ),
                }
            },
            "parameters": PARAMETERS,
            "headers": {name.replace("-", ""): header for name, header in HEADERS.items()},
            "responses": {
                "MethodNotAllowed": _method_not_allowed(),
            },
        },
    }


def _method_not_allowed() -> dict[str, Any]:
    answer = DEFAULT_EXAMPLES[METHOD_NOT_ALLOWED].answer("/v1/exports")
    return {
        "description": (
            "`METHOD_NOT_ALLOWED`: a path of this document asked with a method it does not "
            "list; `Allow` names those it does."
        ),
        "headers": problem_headers([answer]),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("Problem"), "example": answer.body}},
    }


class OpenApiEndpoint:
    """``GET /openapi.json``: the document, built at the first request and kept; its
    ``servers`` name the prefix the app is mounted under (the ASGI ``root_path``)."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._document: dict[str, Any] | None = None
        self._bodies: dict[str, bytes] = {}

    async def get(self, request: Request) -> Response:
        root_path: str = request.scope.get("root_path", "")
        body = self._bodies.get(root_path)
        if body is None:
            if self._document is None:
                self._document = self._build()
            document = {**self._document, "servers": [{"url": root_path or "/"}]}
            body = json.dumps(document, ensure_ascii=False).encode("utf-8")
            if len(self._bodies) < 16:  # prefixes are few; never grow without bound
                self._bodies[root_path] = body
        return Response(body, media_type="application/json")
