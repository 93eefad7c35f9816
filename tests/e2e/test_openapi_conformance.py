"""Schemathesis holds the service to its own OpenAPI document: whatever it is sent, it never
answers a 5xx, and every answer (status, content type, headers, body) is one the document
describes.

The app is the one ``create_app`` builds, over an in-memory world with a key per client type
and an export in each status under the ids of the document's examples, so that generated
requests reach the use cases rather than stop at a 401 or a 404.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckFunction, Response
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.python.asgi import shutdown_lifespans
from starlette.applications import Starlette

from export_resend.adapters.http.openapi import EXAMPLE_EXPORT_IDS
from export_resend.domain.caller import ClientType
from export_resend.domain.export import Export, ExportFile, ExportStatus
from export_resend.main import create_app
from tests.conftest import World, clear_outside_settings, make_world
from tests.e2e.document import document
from tests.factories import NOW, TTL, caller, export

RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""Whatever the request, the answer is one the document describes."""

CHECKS = [
    *RESPONSE_CHECKS,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]
"""And every request the document forbids (a body, parameter or header off its schema, a
required header left out, a method the path does not list) is refused. Not
positive_data_acceptance: a schema-valid request is rightly refused for what no schema says
(a 422 for a reused Idempotency-Key, a 410 for an expired export, a 429 past the limit)."""

CONFORMANCE = settings(
    max_examples=int(os.environ.get("EXPORT_RESEND_TEST_SCHEMATHESIS_EXAMPLES", "30")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Enough generated requests per operation (on top of schemathesis's explicit-example and
coverage phases) to meet every status it documents, in well under a minute for the whole run
on two cores. EXPORT_RESEND_TEST_SCHEMATHESIS_EXAMPLES=300 hunts longer (about 90 s)."""

RESEND_LIMIT = 10_000
"""High enough for every generated resend to be answered (the setting's maximum)."""

OWNER = caller("olivia", "acme")
CALLERS = {
    ClientType.OPERATOR: OWNER,
    ClientType.SUPPLIER: caller("sam", "acme", ClientType.SUPPLIER),
    ClientType.ACCOUNT: caller("ada", "acme", ClientType.ACCOUNT),
}


@dataclass
class Seeded:
    """The world behind the app: a key per client type, and a download token per export."""

    world: World
    keys: dict[str, str]
    tokens: dict[UUID, str]

    def authenticate(self, case: Case[Any]) -> None:
        """A generated API key becomes the seeded key of the generated ``dj-client``; a
        missing key stays missing, and an unknown client keeps its random key."""
        headers = case.headers if case.headers is not None else {}
        client = headers.get("dj-client")
        if "dj-api-key" in headers and client in self.keys:
            headers["dj-api-key"] = self.keys[client]

    def steer(self, case: Case[Any]) -> None:
        """Point a generated request at the seeded data, keeping what makes it wrong.

        A generated UUID becomes, four times in five, one of the seeded exports, and a
        download's token the token of that export; the key as ``authenticate`` says.
        """
        self.authenticate(case)
        path = case.path_parameters or {}
        try:
            generated = UUID(str(path.get("exportId")))
        except ValueError:
            return
        seeded = list(EXAMPLE_EXPORT_IDS.values())
        pick = generated.int % (len(seeded) + 1)
        if pick == len(seeded):
            return
        path["exportId"] = str(seeded[pick])
        query = case.query if case.query is not None else {}
        if case.operation.path.endswith("/download") and query.get("token"):
            query["token"] = self.tokens[seeded[pick]]


async def _ready_with_file(world: World, export_id: UUID, status: ExportStatus) -> Export:
    content = b"eventId;amount\nevt-1;12.50\n"
    key = f"{export_id}.csv"
    async with world.files.writer(key) as writer:
        await writer.write(content)
        await writer.commit()
    pending = export(OWNER, ExportStatus.PENDING)
    file = ExportFile(key, len(content), 1, hashlib.sha256(content).hexdigest())
    ready_at = NOW - timedelta(hours=1)
    ready = pending.mark_ready(file, ready_at, TTL)
    if status is ExportStatus.EXPIRED:
        ready = ready.expire(ready_at + TTL)
    return dataclasses.replace(ready, id=export_id)


async def _seed(world: World) -> Seeded:
    keys = {client.value: await world.add_caller(who) for client, who in CALLERS.items()}
    tokens: dict[UUID, str] = {}
    links = world.container.links()
    for status, export_id in EXAMPLE_EXPORT_IDS.items():
        if status in (ExportStatus.READY, ExportStatus.EXPIRED):
            seeded = await _ready_with_file(world, export_id, status)
        else:
            seeded = dataclasses.replace(export(OWNER, status), id=export_id)
        await world.add_export(seeded)
        if seeded.file is not None:
            [token] = parse_qs(urlsplit(links.url_for(seeded)).query)["token"]
            tokens[export_id] = token
    for export_id in EXAMPLE_EXPORT_IDS.values():
        tokens.setdefault(export_id, "not-a-token")
    return Seeded(world, keys, tokens)


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    with pytest.MonkeyPatch.context() as patch:
        clear_outside_settings(patch)
        # the resend limit (5 an hour) would be spent in the first phase, and every resend
        # after it be a 429: test_a_resend_past_the_limit_is_answered_as_documented checks that
        world = make_world(resend_limit_per_hour=RESEND_LIMIT)
        yield asyncio.run(_seed(world))


@pytest.fixture(scope="module")
def app(seeded: Seeded) -> Iterator[Starlette]:
    """The service; schemathesis runs its lifespan from the first request to the teardown."""
    try:
        yield create_app(container=seeded.world.container)
    finally:
        shutdown_lifespans()


# schemathesis.pytest.from_fixture (a schema loaded from the app in a fixture) fails on
# pytest 9.2 (it sets Node._nodeid, which is gone), so the document is built here, as the app
# builds it; test_openapi.py's test_the_document_is_served_without_credentials holds the
# served document to this one.
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@CONFORMANCE
def test_every_answer_is_one_the_document_describes(
    case: Case[Any], seeded: Seeded, app: Starlette
) -> None:
    seeded.steer(case)
    case.call_and_validate(checks=CHECKS, app=app)


LINKED = settings(
    max_examples=20,
    stateful_step_count=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Twenty scenarios of up to six linked requests (a 202's exportId into the GET, the emails
and the resend), in a few seconds."""


def test_linked_requests_keep_to_the_document(seeded: Seeded, app: Starlette) -> None:
    machine = schema.as_state_machine()

    class LinkedRequests(machine):  # type: ignore[valid-type,misc]
        def before_call(self, case: Case[Any]) -> None:
            seeded.authenticate(case)

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"app": app}

        def validate_response(
            self,
            response: Response,
            case: Case[Any],
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    LinkedRequests.run(settings=LINKED)


@pytest.mark.parametrize(
    ("path", "export_id"),
    [
        # "/" is a character like another to a client; the router sees it as a separator
        ("/v1/exports/{exportId}", "abc/resend-email"),
        ("/v1/exports/{exportId}", "abc/emails"),
        ("/v1/exports/{exportId}", ""),
        ("/v1/exports/{exportId}/emails", "abc/def"),
        ("/v1/exports/{exportId}/download", "abc/def"),
    ],
)
def test_an_export_id_with_a_slash_is_answered_as_documented(
    seeded: Seeded, app: Starlette, path: str, export_id: str
) -> None:
    operation = schema[path]["GET"]
    query = {"token": "t"} if path.endswith("/download") else None
    case = operation.Case(
        path_parameters={"exportId": export_id},
        headers={"dj-client": "OPERATOR", "dj-api-key": seeded.keys["OPERATOR"]},
        query=query,
    )
    case.call_and_validate(checks=RESPONSE_CHECKS, app=app)


def test_a_resend_past_the_limit_is_answered_as_documented() -> None:
    world = make_world()
    seeded = asyncio.run(_seed(world))
    app = create_app(container=world.container)
    operation = schema["/v1/exports/{exportId}/resend-email"]["POST"]
    statuses = []
    try:
        for _ in range(6):
            case = operation.Case(
                path_parameters={"exportId": str(EXAMPLE_EXPORT_IDS[ExportStatus.READY])},
                headers={"dj-client": "OPERATOR", "dj-api-key": seeded.keys["OPERATOR"]},
            )
            statuses.append(case.call_and_validate(checks=RESPONSE_CHECKS, app=app).status_code)
    finally:
        shutdown_lifespans()
    assert statuses == [200] * 5 + [429]
