"""The OpenAPI document: valid OpenAPI 3.1, one operation per route, every problem of the table,
and examples that are valid against their own schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route

from export_resend.adapters.http.app import create_http_app
from export_resend.adapters.http.idempotency import MAX_KEY_LENGTH, checked_key
from export_resend.adapters.http.openapi import ROUTE_INDEPENDENT, OpenApiEndpoint
from export_resend.adapters.http.openapi.problem_examples import DEFAULT_EXAMPLES
from export_resend.adapters.http.problems import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    PROBLEM_MEDIA_TYPE,
    PROBLEMS,
    InvalidJson,
    PayloadTooLarge,
    ProblemType,
    UnsupportedMediaType,
    handle_error,
)
from export_resend.adapters.http.routes import OPENAPI_PATH
from export_resend.adapters.http.schemas import Problem, ResendEmailRequest
from export_resend.application.check_readiness import NotReady
from export_resend.application.errors import (
    ClientNotAllowed,
    FieldIssue,
    ServiceNotRunning,
    Unauthenticated,
    ValidationFailed,
)
from export_resend.application.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.domain.caller import ClientType
from export_resend.domain.errors import (
    DomainError,
    ExportExpired,
    ExportForbidden,
    ExportNotFound,
    ExportNotReady,
    ExportTypeNotAllowed,
    ResendRateLimited,
    TooManyCcRecipients,
)
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.ports import StorageUnavailable
from export_resend.domain.recipients import MAX_CC_RECIPIENTS
from export_resend.main import create_app
from tests.conftest import World, make_world
from tests.e2e.conftest import Api
from tests.e2e.document import OPERATIONS, document

DOCUMENT = document()
METHODS = {"get", "post", "put", "patch", "delete"}


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = DOCUMENT["components"][kind][name]
    return node


def _examples(media: dict[str, Any]) -> list[Any]:
    found = [e["value"] for e in media.get("examples", {}).values()]
    return [media["example"], *found] if "example" in media else found


def _validator(schema: dict[str, Any]) -> OAS31Validator:
    rooted = {**schema, "components": DOCUMENT["components"]}
    return OAS31Validator(rooted, format_checker=OAS31Validator.FORMAT_CHECKER)


def _problem_examples() -> Iterator[dict[str, Any]]:
    for _, _, operation in _operations():
        for response in operation["responses"].values():
            media = _resolve(response)["content"].get(PROBLEM_MEDIA_TYPE)
            if media is not None:
                yield from _examples(media)
    for response in DOCUMENT["components"]["responses"].values():
        yield from _examples(response["content"][PROBLEM_MEDIA_TYPE])


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    validate(DOCUMENT)


async def test_every_route_of_the_app_is_documented_and_nothing_else(world: World) -> None:
    app = create_app(container=world.container)
    served = {
        (method.lower(), route.path.replace("{export_id}", "{exportId}"))
        for route in app.routes
        # the pages for people (the operator page, the API reference) are no API
        if isinstance(route, Route) and route.path not in ("/docs", "/ui")
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(method, path) for method, path, _ in _operations()}
    assert served == documented


async def test_a_service_without_metrics_does_not_describe_them(world: World) -> None:
    """``create_http_app`` serves ``/metrics`` only given ``scrape_metrics``: a host that
    embeds it without them gets a document without that route."""
    c = world.container
    app = create_http_app(
        authenticate=c.authenticate_caller(),
        resend_export_email=c.resend_export_email(),
        get_export=c.get_export(),
        list_export_emails=c.list_export_emails(),
        request_export=c.request_export(),
        list_exports=c.list_exports(),
        download_export=c.download_export(),
        begin_idempotent_request=c.begin_idempotent_request(),
        release_idempotency_key=c.release_idempotency_key(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        document = (await client.get(OPENAPI_PATH)).json()
        metrics = await client.get("/metrics")
    assert metrics.status_code == 404
    assert "/metrics" not in document["paths"]
    assert {**document["paths"], "/metrics": DOCUMENT["paths"]["/metrics"]} == DOCUMENT["paths"]


def test_operation_ids_are_unique_and_the_resend_is_adm_export_200() -> None:
    ids = {(method, path): op["operationId"] for method, path, op in _operations()}
    assert len(set(ids.values())) == len(ids)
    assert ids["post", "/v1/exports/{exportId}/resend-email"] == "ADM-EXPORT-200"
    assert ids["post", "/v1/payments/transactions/export"] == "requestTransactionEventsExport"
    assert ids["get", "/v1/exports/{exportId}/download"] == "downloadExport"


def test_every_problem_of_the_table_appears_with_its_type_title_and_status() -> None:
    examples = list(_problem_examples())
    documented = {e["code"] for e in examples}
    table = {p.code for p in (*PROBLEMS.values(), *ROUTE_INDEPENDENT)}
    assert table <= documented, table - documented
    by_code: dict[str, ProblemType] = {p.code: p for p in PROBLEMS.values()}
    by_code.update({p.code: p for p in ROUTE_INDEPENDENT})
    for example in examples:
        Problem.model_validate(example)
        if example["code"] in by_code:
            problem = by_code[example["code"]]
            assert (example["type"], example["title"], example["status"]) == (
                problem.uri,
                problem.title,
                problem.status,
            )


_ID = UUID("0b6a3e52-7c1f-4d8e-9a35-2f4c6b8d1e07")
ONE_OF_EACH: list[Exception] = [
    Unauthenticated("the API key is not valid"),
    ClientNotAllowed("the dj-client header does not match this API key's client"),
    ExportForbidden(_ID),
    ExportTypeNotAllowed(ClientType.SUPPLIER, ExportType.SUPPLIER_PAYOUTS),
    ExportExpired(_ID),
    ExportNotFound(_ID),
    ExportNotReady(_ID, ExportStatus.FAILED),
    ResendRateLimited(_ID, 5, 1260),
    IdempotencyKeyReused(),
    IdempotencyKeyInUse(3),
    InvalidJson("the body is not valid JSON"),
    ValidationFailed([FieldIssue("F-E-001", "token", "the link's token is missing")]),
    PayloadTooLarge(65536),
    UnsupportedMediaType("text/plain"),
    TooManyCcRecipients(21, 20),
    ClientDisconnect(),
    NotReady("the database cannot be reached"),
    ServiceNotRunning(),
    StorageUnavailable("OSError: connection refused"),
    DomainError("an export cannot go from FAILED to READY"),
]
"""One error of each kind in ``PROBLEMS``, as the handler meets them."""


async def test_the_problem_schema_declares_every_member_the_service_writes() -> None:
    assert {type(e) for e in ONE_OF_EACH} == set(PROBLEMS)
    declared = set(DOCUMENT["components"]["schemas"]["Problem"]["properties"])
    request = Request({"type": "http", "method": "POST", "path": "/v1/x", "headers": []})
    for error in ONE_OF_EACH:
        body = json.loads(bytes((await handle_error(request, error)).body))
        assert set(body) <= declared, (type(error).__name__, set(body) - declared)
        _validator({"$ref": "#/components/schemas/Problem"}).validate(body)


async def _handled(error: Exception, method: str, path: str) -> tuple[int, Any, set[str]]:
    """The status, body and header names of the handler's answer to ``error``."""
    request = Request({"type": "http", "method": method.upper(), "path": path, "headers": []})
    response = await handle_error(request, error)
    sent = set(response.headers) - {"content-length", "content-type"}
    return response.status_code, json.loads(bytes(response.body)), sent


def _assert_headers_describe(sent: set[str], documented: dict[str, Any], where: object) -> None:
    """The handler's headers are documented, and those documented as required are sent
    (but X-Request-Id, which the access middleware adds to every response)."""
    declared = {name.lower(): _resolve(header) for name, header in documented.items()}
    assert sent <= set(declared), (where, sent - set(declared))
    required = {name for name, header in declared.items() if header["required"]}
    assert required - {"x-request-id"} <= sent, (where, required - sent)


async def test_every_problem_example_is_what_the_handler_answers_to_its_error() -> None:
    """Body, status and headers: each example is its error as ``handle_error`` answers it at
    the operation's path, so the document cannot drift from what the service says."""
    checked = 0
    for operation in OPERATIONS:
        responses = DOCUMENT["paths"][operation.path][operation.method]["responses"]
        for problem in (*operation.problems, INTERNAL_ERROR):
            documented = _resolve(responses[str(problem.status)])
            values = documented["content"][PROBLEM_MEDIA_TYPE]["examples"]
            for name, example in operation.examples_of(problem):
                where = (operation.method, operation.path, name)
                status, body, sent = await _handled(
                    example.error, operation.method, operation.instance
                )
                assert (status, body) == (problem.status, values[name]["value"]), where
                _assert_headers_describe(sent, documented["headers"], where)
                checked += 1
    method_not_allowed = DOCUMENT["components"]["responses"]["MethodNotAllowed"]
    status, body, sent = await _handled(
        DEFAULT_EXAMPLES[METHOD_NOT_ALLOWED].error, "delete", "/v1/exports"
    )
    content = method_not_allowed["content"][PROBLEM_MEDIA_TYPE]
    assert (status, body) == (405, content["example"])
    _assert_headers_describe(sent, method_not_allowed["headers"], "MethodNotAllowed")
    assert checked > 100


def test_each_problem_response_names_its_codes_and_its_status() -> None:
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            media = _resolve(response)["content"].get(PROBLEM_MEDIA_TYPE)
            if media is None:
                continue
            _, narrowed = media["schema"]["allOf"]
            codes = narrowed["properties"]["code"]["enum"]
            assert narrowed["properties"]["status"] == {"const": int(status)}
            assert sorted({e["code"] for e in _examples(media)}) == sorted(codes), (method, path)
            assert "500" in operation["responses"], (method, path)


def test_every_example_is_valid_against_its_schema() -> None:
    checked = 0
    for method, path, operation in _operations():
        bodies = [operation["requestBody"]] if "requestBody" in operation else []
        bodies += [_resolve(r) for r in operation["responses"].values()]
        for body in bodies:
            for media in body.get("content", {}).values():
                assert _examples(media), (method, path, "no example")
                for example in _examples(media):
                    _validator(media["schema"]).validate(example)
                    checked += 1
        for parameter in map(_resolve, operation.get("parameters", [])):
            values = _examples(parameter)
            assert values, (method, path, parameter["name"], "no example")
            for value in values:
                _validator(parameter["schema"]).validate(value)
    assert checked > 50


def test_the_headers_the_service_always_sends_are_required() -> None:
    for method, path, operation in _operations():
        responses = operation["responses"]
        if "401" in responses:
            assert _resolve(responses["401"]["headers"]["WWW-Authenticate"])["required"]
        if "429" in responses:
            assert responses["429"]["headers"]["Retry-After"]["required"]
        if method == "post":
            [success] = [r for s, r in responses.items() if s.startswith("2")]
            assert "Idempotent-Replayed" in success["headers"], path
            names = [_resolve(p)["name"] for p in operation["parameters"]]
            assert "Idempotency-Key" in names, path
    requested = DOCUMENT["paths"]["/v1/payments/transactions/export"]["post"]["responses"]["202"]
    assert _resolve(requested["headers"]["Location"])["required"]
    download = DOCUMENT["paths"]["/v1/exports/{exportId}/download"]["get"]["responses"]["200"]
    for name in ("Content-Disposition", "Content-Length", "ETag"):
        assert _resolve(download["headers"][name])["required"], name


def _is_key(value: str) -> bool:
    try:
        checked_key(value)
    except ValidationFailed:
        return False
    return True


# what a header value can hold (latin-1 text, tabs included, line breaks not): printable
# ASCII, and the characters at its edges
_HEADER_CHARACTERS = st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from(
    "\t \x7f\x80\xff"
)


@hypothesis.given(st.text(_HEADER_CHARACTERS, max_size=8))
@hypothesis.example("k" * MAX_KEY_LENGTH)
@hypothesis.example("k" * (MAX_KEY_LENGTH + 1))
@hypothesis.example("a b")
@hypothesis.example("a\tb")
@hypothesis.example("~")
@hypothesis.example("\x7f")
def test_the_idempotency_key_schema_accepts_what_checked_key_accepts(value: str) -> None:
    """On every value a client can send: HTTP strips the spaces and tabs around a header
    value, so none is sent with any."""
    hypothesis.assume(value == value.strip(" \t"))
    schema = DOCUMENT["components"]["parameters"]["IdempotencyKey"]["schema"]
    assert _validator(schema).is_valid(value) == _is_key(value), repr(value)


def test_credentials_are_the_api_key_scheme_and_a_client_type_header() -> None:
    scheme = DOCUMENT["components"]["securitySchemes"]["djApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "dj-api-key"}
    client = DOCUMENT["components"]["parameters"]["DjClient"]
    assert (client["name"], client["in"], client["required"]) == ("dj-client", "header", True)
    assert _resolve(client["schema"])["enum"] == [c.value for c in ClientType]
    for method, path, operation in _operations():
        public = operation.get("security") == []
        names = [_resolve(p)["name"] for p in operation.get("parameters", [])]
        assert public == (path.endswith("/download") or not path.startswith("/v1")), path
        assert ("dj-client" in names) != public, (method, path)


def test_the_resend_body_is_the_command_without_the_export_id() -> None:
    fields = set(ResendExportEmailCommand.model_fields) - {"export_id"}
    assert set(ResendEmailRequest.model_fields) == fields
    schema = DOCUMENT["components"]["schemas"]["ResendEmailRequest"]
    assert set(schema["properties"]) == {"cc"}
    assert schema["properties"]["cc"]["anyOf"][0]["maxItems"] == 20


def test_every_post_body_may_be_null_as_the_service_reads_it() -> None:
    """No body, ``{}`` and ``null`` are one body (docs/api.md): the schema says so too."""
    posts = [(path, op) for method, path, op in _operations() if method == "post"]
    assert len(posts) == 5
    for path, operation in posts:
        media = operation["requestBody"]["content"]["application/json"]
        _validator(media["schema"]).validate(None)
        _validator(media["schema"]).validate({})
        assert not _validator(media["schema"]).is_valid([]), path


async def test_the_document_is_served_without_credentials(api: Api) -> None:
    response = await api.client.get(OPENAPI_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {**DOCUMENT, "servers": [{"url": "/"}]}


async def test_the_document_is_built_at_the_first_request_only() -> None:
    built: list[int] = []

    def build() -> dict[str, Any]:
        built.append(1)
        return DOCUMENT

    endpoint = OpenApiEndpoint(build)
    assert built == []
    request = Request({"type": "http", "method": "GET", "path": OPENAPI_PATH, "headers": []})
    first = await endpoint.get(request)
    second = await endpoint.get(request)
    assert built == [1]
    assert first.body == second.body


@pytest.mark.parametrize("name", ["ExportCommand", "Problem", "ExportResponse"])
def test_component_descriptions_are_markdown_not_restructured_text(name: str) -> None:
    assert "``" not in str(DOCUMENT["components"]["schemas"][name])


def test_docs_api_lists_every_problem_of_the_document_and_no_other() -> None:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    rows = set(re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \| `(urn:[a-z:-]+)` \|", text, re.M))
    documented = {(str(e["status"]), e["code"], e["type"]) for e in _problem_examples()}
    assert rows == documented


def _docs_table(heading: str) -> set[str]:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z-]+)[`:]", section, re.M))


def test_docs_api_lists_the_request_headers_of_the_document() -> None:
    in_document = {
        parameter["name"]
        for _, _, operation in _operations()
        for parameter in map(_resolve, operation.get("parameters", []))
        if parameter["in"] == "header"
    }
    assert "X-Request-Id" in in_document  # the service takes the caller's (access.py)
    assert _docs_table("Request headers") == in_document | {"dj-api-key", "Content-Type"}


async def test_the_numbers_of_the_document_are_those_of_the_code_and_the_settings() -> None:
    world = make_world(resend_limit_per_hour=3, idempotency_retention=timedelta(hours=2))
    transport = httpx.ASGITransport(app=create_app(container=world.container))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        served = (await client.get(OPENAPI_PATH)).json()
    resend = served["paths"]["/v1/exports/{exportId}/resend-email"]["post"]["description"]
    key = served["components"]["parameters"]["IdempotencyKey"]
    assert "At most 3 resends per export in any rolling hour." in resend
    assert f"at most {MAX_CC_RECIPIENTS} bare addresses" in resend
    assert "within 2 hours" in key["description"]
    assert key["schema"]["maxLength"] == MAX_KEY_LENGTH
    assert "per rolling hour" in served["info"]["description"]
    assert DOCUMENT["components"]["parameters"]["IdempotencyKey"]["description"].count(
        "within 24 hours"
    )
