"""The whole document, and the endpoint that serves it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from export_resend.adapters.http.idempotency import HEADER
from export_resend.adapters.http.openapi.components import (
    HEADERS,
    Operation,
    Policies,
    component_schemas,
    parameters,
    problem_headers,
    ref,
    rolling,
)
from export_resend.adapters.http.openapi.problem_examples import DEFAULT_EXAMPLES
from export_resend.adapters.http.problems import METHOD_NOT_ALLOWED, PROBLEM_MEDIA_TYPE
from export_resend.application.errors import FieldErrorCode
from export_resend.domain.caller import ClientType


def _description(policies: Policies) -> str:
    *others, last = (f"`{c.value}`" for c in ClientType)
    clients = f"{', '.join(others)} or {last}"
    field_codes = ", ".join(
        f"`{c.value}` {c.name.lower().replace('_', ' ')}" for c in FieldErrorCode
    )
    return f"""\
Send, and send again, the "your export is ready" email of a payments platform; request
exports, follow them, download their files.

**Authentication.** Every `/v1` route except the download needs two headers: `dj-api-key`
(the key, shown once when it was created) and `dj-client` ({clients}, the key's user's
client type). A missing or unknown key is a 401; another client type is a 403. The download
link's `token` is its own credential.

**Errors** are `application/problem+json` (RFC 9457) with a stable `type` URN per `code`;
a 400 lists `errors: [{{code, field, message}}]` with the platform's field codes
({field_codes}).

**Retries.** Every POST takes an optional `{HEADER}`; **resends** are limited per
export per rolling {rolling(policies.resend_limit.window)} (429 with `Retry-After`). The
policies are in docs/api.md.
"""


def openapi_document(operations: Iterable[Operation[Any]], policies: Policies) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a service that answers ``operations``, configured as
    ``policies`` say."""
    paths: dict[str, Any] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method] = operation.as_openapi(policies)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "export-resend",
            "version": version("export-resend"),
            "summary": "The export email service of a payments platform.",
            "description": _description(policies),
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
            "parameters": parameters(policies),
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
