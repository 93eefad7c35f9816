"""Every route of the service, each declared once: its method and path, the endpoint that
answers it, and how the OpenAPI document describes it. The app's routes and its document are
both made from these declarations (``app.py``), so neither can list a route the other lacks.

The numbers a client reads in the document come from the code and the configuration
(``Policies``); the one table of export types kept here, ``EXPORT_REQUESTS``, holds only what
is HTTP's: the path segment of a type's request route and an example body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from export_resend.adapters.http.exports import ExportEndpoints
from export_resend.adapters.http.openapi.components import (
    Operation,
    Policies,
    json_body,
    json_response,
    query_parameters,
    ref,
    response_headers,
    rolling,
    route_path,
)
from export_resend.adapters.http.openapi.document import OpenApiEndpoint
from export_resend.adapters.http.openapi.examples import (
    DELIVERY_ID,
    EXAMPLE_EXPORT_IDS,
    NOW,
    OWNER,
    READY_ID,
    csv_example,
    emails_example,
    export_example,
)
from export_resend.adapters.http.openapi.problem_examples import (
    AUTHENTICATED,
    BAD_IDEMPOTENCY_KEY,
    DEFAULT_EXAMPLES,
    EXPORT_IN_PATH,
    JSON_BODY,
    STORED,
    ProblemExample,
    invalid,
    problem_types,
)
from export_resend.adapters.http.operations import OperationsEndpoints
from export_resend.adapters.http.problems import METHOD_NOT_ALLOWED, PROBLEMS
from export_resend.adapters.http.schemas import (
    DeliveryBody,
    ExportListResponse,
    ExportRequestedResponse,
    IssueBody,
    RecipientsBody,
    ResendEmailResponse,
    ServiceStatus,
)
from export_resend.application.check_readiness import NotReady
from export_resend.application.errors import FieldErrorCode, ValidationFailed
from export_resend.application.list_exports import ListExportsCommand
from export_resend.application.request_export import command_of
from export_resend.domain.delivery import DeliveryStatus
from export_resend.domain.errors import (
    DomainError,
    ExportExpired,
    ExportForbidden,
    ExportNotFound,
    ExportNotReady,
    ExportTypeNotAllowed,
    ResendRateLimited,
)
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.recipients import MAX_CC_RECIPIENTS

OPENAPI_PATH = "/openapi.json"
METRICS_PATH = "/metrics"
EXPORT_PATH = "/v1/exports/{exportId}"
RESEND_PATH = "/v1/exports/{exportId}/resend-email"
_EXPORT_ROUTE = route_path(EXPORT_PATH)
_RESEND_ROUTE = route_path(RESEND_PATH)


@dataclass(frozen=True, slots=True)
class ExportRequestRoute:
    """What HTTP adds to an export type: where its request is sent, ``POST
    /v1/payments/{segment}/export``, and a body with filters to show in the document."""

    segment: str
    example: Mapping[str, Any]


EXPORT_REQUESTS: Mapping[ExportType, ExportRequestRoute] = {
    ExportType.TRANSACTION_EVENTS: ExportRequestRoute(
        "transactions",
        {
            "cc": ["finance@acme.example.com"],
            "statuses": ["PAID", "REFUNDED"],
            "amountMin": "10.00",
            "updatedAtFrom": "2026-01-01T00:00:00Z",
            "updatedAtTo": "2026-01-31T23:59:59Z",
        },
    ),
    ExportType.FUNDING_TRANSFERS: ExportRequestRoute(
        "funding-transfers",
        {
            "cc": ["finance@acme.example.com"],
            "statuses": ["COMPLETED", "FAILED"],
            "amountMin": 100,
            "createdAtFrom": "2026-01-01T00:00:00Z",
        },
    ),
}
"""The export types whose route differs from the default: the kind's slug as the segment,
a CC list as the example."""


def export_request_route(export_type: ExportType) -> ExportRequestRoute:
    """The request route of ``export_type``: its row of ``EXPORT_REQUESTS``, or the default."""
    found = EXPORT_REQUESTS.get(export_type)
    return found or ExportRequestRoute(export_type.kind.slug, {"cc": ["finance@acme.example.com"]})


def export_request_path(export_type: ExportType) -> str:
    """``POST`` here requests an export of ``export_type``."""
    return f"/v1/payments/{export_request_route(export_type).segment}/export"


def _who_may_request(export_type: ExportType) -> str:
    clients = sorted(c.value for c in export_type.kind.requestable_by)
    return f"{' and '.join(clients)} clients" + (" only" if len(clients) == 1 else "")


def _warning(code: str, field_name: str, message: str) -> IssueBody:
    return IssueBody(code=code, field=field_name, message=message)


def _request_export(export_type: ExportType) -> Operation[ExportEndpoints]:
    kind = export_type.kind.slug.title().replace("-", "")
    words = export_type.label
    command = command_of(export_type).__name__
    path = export_request_path(export_type)

    async def endpoint(endpoints: ExportEndpoints, request: Request) -> Response:
        return await endpoints.request_export(request, export_type, path, _EXPORT_ROUTE)

    links: dict[str, dict[str, Any]] = {
        "getExport": {"operationId": "getExport"},
        "listExportEmails": {"operationId": "listExportEmails"},
        "resendExportEmail": {"operationId": "ADM-EXPORT-200"},
    }
    for link in links.values():
        link["parameters"] = {"exportId": "$response.body#/exportId"}
    requested = ExportRequestedResponse(
        export_id=EXAMPLE_EXPORT_IDS[ExportStatus.PENDING],
        export_type=export_type,
        status=ExportStatus.PENDING,
        requested_at=NOW,
        cc=["finance@acme.example.com"],
        warnings=[],
    )
    return Operation(
        method="post",
        path=path,
        operation_id=f"request{kind}Export",
        tag="Export requests",
        summary=f"Request a {words} export",
        description=(
            f"Queues a {words} export for the caller ({_who_may_request(export_type)}). The "
            "file is generated in the background; when it is READY, its email (with a signed "
            "download link) goes to the caller and the CC list. No body, `{}` or `null` "
            "exports every row with no CC."
        ),
        parameters=(),
        request_body={
            "required": False,
            "content": {
                "application/json": {
                    "schema": json_body(command),
                    "examples": {
                        "filtered": {"value": export_request_route(export_type).example},
                        "everything": {"summary": "every row, no CC", "value": {}},
                    },
                }
            },
        },
        responses={
            "202": json_response(
                "Queued: the export is PENDING. `Location` names it.",
                "ExportRequestedResponse",
                {"queued": requested},
                headers=response_headers("Location", "Idempotent-Replayed"),
                links=links,
            )
        },
        endpoint=endpoint,
        problems=(*AUTHENTICATED, *problem_types(ExportTypeNotAllowed, DomainError), *JSON_BODY),
        problem_examples=(
            invalid(
                FieldErrorCode.NOT_IN_ENUM,
                "statuses[0]",
                "Input should be 'INIT_PAYMENT', 'CARD_REGISTERED', … or 'REFUND_FAILED'",
                name="statuses",
            ),
            invalid(FieldErrorCode.BAD_FORMAT, "cc[0]", "must not contain a line feed", name="cc"),
            BAD_IDEMPOTENCY_KEY,
        ),
    )


def _resend_description(policies: Policies) -> str:
    limit = policies.resend_limit
    return (
        'Sends the "your export is ready" email again, with a fresh download link to the '
        "same file (never regenerated). Only the export's owner may ask, only while it is "
        "READY. The To is always the caller; `cc` replaces the original CC list for this "
        f"email (at most {MAX_CC_RECIPIENTS} bare addresses; duplicates and the caller's own "
        "address are dropped with a warning). The 200 means the email is committed to the "
        f"outbox. At most {limit.per_window} resends per export in any rolling "
        f"{rolling(limit.window)}."
    )


def _resend() -> Operation[ExportEndpoints]:
    async def endpoint(endpoints: ExportEndpoints, request: Request) -> Response:
        return await endpoints.resend_email(request, _RESEND_ROUTE)

    receipt = ResendEmailResponse(
        export_id=READY_ID,
        export_type=ExportType.TRANSACTION_EVENTS,
        status=ExportStatus.READY,
        recipients=RecipientsBody(to=OWNER, cc=["ceo@acme.example.com"]),
        delivery=DeliveryBody(id=DELIVERY_ID, status=DeliveryStatus.QUEUED, queued_at=NOW),
        warnings=[],
    )
    with_warnings = receipt.model_copy(
        update={
            "recipients": receipt.recipients.model_copy(update={"cc": ["a@example.com"]}),
            "warnings": [
                _warning(
                    "DUPLICATE", "cc[1]", "A@example.com appears earlier in the list; sent once"
                ),
                _warning(
                    "PRIMARY_RECIPIENT",
                    "cc[2]",
                    f"{OWNER} is the primary recipient (To); not copied",
                ),
                _warning("FIELD_IGNORED", "to", "not a field of this request; ignored"),
            ],
        }
    )
    return Operation(
        method="post",
        path=RESEND_PATH,
        operation_id="ADM-EXPORT-200",
        tag="Exports",
        summary="Resend the export's email",
        description=_resend_description,
        parameters=(ref("ExportId", "parameters"),),
        request_body={
            "required": False,
            "content": {
                "application/json": {
                    "schema": json_body("ResendEmailRequest"),
                    "examples": {
                        "new-cc": {
                            "summary": "replace the CC list",
                            "value": {"cc": ["ceo@acme.example.com"]},
                        },
                        "no-cc": {"summary": "send with no CC", "value": {"cc": []}},
                        "original-cc": {"summary": "keep the original CC list", "value": {}},
                    },
                }
            },
        },
        responses={
            "200": json_response(
                "Queued: the recipients, the delivery, and what was dropped from the CC.",
                "ResendEmailResponse",
                {"queued": receipt, "with-warnings": with_warnings},
                headers=response_headers("Idempotent-Replayed"),
            )
        },
        endpoint=endpoint,
        problems=(
            *AUTHENTICATED,
            *EXPORT_IN_PATH,
            *JSON_BODY,
            *problem_types(
                ExportNotFound, ExportForbidden, ExportNotReady, DomainError, ResendRateLimited
            ),
        ),
        problem_examples=(
            invalid(
                FieldErrorCode.BAD_FORMAT,
                "cc[0]",
                "must be a bare address, without a display name or angle brackets",
                name="cc",
            ),
            invalid(
                FieldErrorCode.SIZE_LIMIT_EXCEEDED,
                "cc",
                "Tuple should have at most 20 items after validation, not 21",
                name="cc-size",
            ),
            DEFAULT_EXAMPLES[PROBLEMS[ValidationFailed]],
            BAD_IDEMPOTENCY_KEY,
            DEFAULT_EXAMPLES[PROBLEMS[ExportNotReady]],
            ProblemExample(ExportNotReady(READY_ID, ExportStatus.EXPIRED), "EXPIRED"),
        ),
    )


def export_operations(export_types: Iterable[ExportType]) -> list[Operation[ExportEndpoints]]:
    """The export routes: a request route for each of ``export_types``, and the others."""
    export_problems = (
        *AUTHENTICATED,
        *EXPORT_IN_PATH,
        *problem_types(ExportNotFound, ExportForbidden),
    )
    list_parameters = {
        "type": ("Only exports of this type.", ExportType.TRANSACTION_EVENTS.value),
        "status": (
            "Only exports in this effective status (a READY export past its expiry is EXPIRED).",
            ExportStatus.READY.value,
        ),
        "page": ("The page, from 0.", 0),
        "size": ("Exports per page.", ListExportsCommand.model_fields["size"].default),
    }
    return [
        *(_request_export(export_type) for export_type in export_types),
        _resend(),
        Operation(
            method="get",
            path=EXPORT_PATH,
            operation_id="getExport",
            tag="Exports",
            summary="Get one export",
            description=(
                "One of the caller's exports, with its effective status: a READY export whose "
                "download period is over is EXPIRED here even before the sweep records it."
            ),
            parameters=(ref("ExportId", "parameters"),),
            responses={
                "200": json_response(
                    "The export.",
                    "ExportResponse",
                    {s.value.lower(): export_example(s) for s in EXAMPLE_EXPORT_IDS},
                )
            },
            # an exportId ending in /resend-email names the resend's path, which has no GET
            problems=(*export_problems, METHOD_NOT_ALLOWED),
            endpoint=ExportEndpoints.get,
        ),
        Operation(
            method="get",
            path="/v1/exports",
            operation_id="listExports",
            tag="Exports",
            summary="List the caller's exports",
            description=(
                "The caller's own exports, newest request first, one page at a time, "
                "optionally of one type or effective status. Unknown query parameters are "
                "ignored."
            ),
            parameters=tuple(query_parameters(ListExportsCommand, list_parameters)),
            responses={
                "200": json_response(
                    "One page of exports and how many match in all.",
                    "ExportListResponse",
                    {
                        "page": ExportListResponse(
                            items=[export_example(s) for s in EXAMPLE_EXPORT_IDS],
                            page=0,
                            size=20,
                            total=4,
                        )
                    },
                )
            },
            problems=(*AUTHENTICATED, PROBLEMS[ValidationFailed]),
            endpoint=ExportEndpoints.history,
            problem_examples=(
                invalid(
                    FieldErrorCode.SIZE_LIMIT_EXCEEDED,
                    "size",
                    "Input should be less than or equal to 100",
                    name="size",
                ),
                invalid(
                    FieldErrorCode.NOT_IN_ENUM,
                    "status",
                    "Input should be 'PENDING', 'READY', 'FAILED' or 'EXPIRED'",
                    name="status",
                ),
            ),
        ),
        Operation(
            method="get",
            path="/v1/exports/{exportId}/emails",
            operation_id="listExportEmails",
            tag="Exports",
            summary="List an export's emails",
            description=(
                "Every email of the export, oldest first: the initial one and each resend, "
                "with its recipients, delivery status, attempts and what the relay said about "
                "each address."
            ),
            parameters=(ref("ExportId", "parameters"),),
            responses={
                "200": json_response(
                    "The export's emails.", "ExportEmailsResponse", {"sent": emails_example()}
                )
            },
            problems=export_problems,
            endpoint=ExportEndpoints.emails,
        ),
        Operation(
            method="get",
            path="/v1/exports/{exportId}/download",
            operation_id="downloadExport",
            tag="Exports",
            summary="Download an export's file",
            description=(
                "The CSV file, streamed (UTF-8, `;` separator, a header row). The link comes "
                "from the export's email: its `token` is the credential, so no API key is "
                "needed. A token this service did not sign, or one for another export, is a "
                "404; after the export's expiry the link is gone for good (410)."
            ),
            parameters=(
                ref("ExportId", "parameters"),
                {
                    "name": "token",
                    "in": "query",
                    "required": True,
                    "description": "The signed token of the email's link.",
                    "schema": {"type": "string", "minLength": 1},
                    "example": "eyJlIjoiMGI2YTNlNTIifQ.aW6oVw.5Jc0b1mZ2nq4E8lX",
                },
            ),
            responses={
                "200": {
                    "description": "The file.",
                    "headers": response_headers(
                        "Content-Disposition", "Content-Length", "ETag", "Cache-Control"
                    ),
                    "content": {
                        "text/csv": {
                            "schema": {"type": "string"},
                            "example": csv_example(),
                        }
                    },
                }
            },
            problems=(
                *EXPORT_IN_PATH,
                *problem_types(ExportNotFound, ExportExpired),
                *STORED,
            ),
            problem_examples=(
                invalid(
                    FieldErrorCode.MISSING, "token", "the link's token is missing", name="token"
                ),
                DEFAULT_EXAMPLES[PROBLEMS[ValidationFailed]],
            ),
            public=True,
            endpoint=ExportEndpoints.download,
        ),
    ]


DOCUMENT: Operation[OpenApiEndpoint] = Operation(
    method="get",
    path=OPENAPI_PATH,
    operation_id="getOpenApiDocument",
    tag="Service",
    summary="This document",
    description="The OpenAPI 3.1 description of the service. No API key needed.",
    responses={
        "200": {
            "description": "The OpenAPI document.",
            "headers": response_headers(),
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["openapi", "info", "paths"],
                        "properties": {"openapi": {"const": "3.1.0"}},
                    },
                    "example": {
                        "openapi": "3.1.0",
                        "info": {
                            "title": "export-resend",
                            "version": version("export-resend"),
                        },
                        "paths": {},
                    },
                }
            },
        }
    },
    public=True,
    endpoint=OpenApiEndpoint.get,
)
"""``GET /openapi.json``: the document these declarations make."""

METRICS: Operation[OperationsEndpoints] = Operation(
    method="get",
    path=METRICS_PATH,
    operation_id="getMetrics",
    tag="Service",
    summary="Prometheus metrics",
    description=(
        "The service's metrics in the Prometheus text exposition format: resend "
        "outcomes, send attempts and recipients by result, send duration, outbox depth "
        "and the age of the oldest queued email."
    ),
    responses={
        "200": {
            "description": "The metrics.",
            "headers": response_headers(),
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": (
                        "# HELP export_resend_outbox_depth Emails waiting in the outbox.\n"
                        "# TYPE export_resend_outbox_depth gauge\n"
                        "export_resend_outbox_depth 0.0\n"
                    ),
                }
            },
        }
    },
    public=True,
    endpoint=OperationsEndpoints.metrics,
)
"""``GET /metrics``, served only by a service given its scrape."""


def service_operations(*, metrics: bool) -> list[Operation[OperationsEndpoints]]:
    """The routes for operators and their tools; ``/metrics`` only with ``metrics``."""
    return [
        Operation(
            method="get",
            path="/livez",
            operation_id="getLiveness",
            tag="Service",
            summary="Is the process alive",
            description="Checks nothing but the process: a 200 means it answers requests.",
            responses={
                "200": json_response("Alive.", "ServiceStatus", {"ok": ServiceStatus(status="ok")})
            },
            public=True,
            endpoint=OperationsEndpoints.livez,
        ),
        Operation(
            method="get",
            path="/readyz",
            operation_id="getReadiness",
            tag="Service",
            summary="Is the service ready",
            description="Checks the database, with a timeout: a 503 until it answers.",
            responses={
                "200": json_response("Ready.", "ServiceStatus", {"ok": ServiceStatus(status="ok")})
            },
            problems=(*problem_types(NotReady), *STORED),
            public=True,
            endpoint=OperationsEndpoints.readyz,
        ),
        *([METRICS] if metrics else []),
    ]


def every_operation(export_types: Iterable[ExportType], *, metrics: bool) -> list[Operation[Any]]:
    """Every route of a service that serves ``export_types`` (and ``/metrics`` if
    ``metrics``), in the document's order."""
    return [
        *export_operations(export_types),
        DOCUMENT,
        *service_operations(metrics=metrics),
    ]


class EncodedSlash(BaseRoute):
    """A path whose bytes hold an encoded ``/`` (``%2F``) reaches no route: 404, never the
    route its decoded path names (``/v1/exports/{id}%2Femails`` is not the emails route).
    Read from ``raw_path``, so that an app mounted by a host refuses it too."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw: bytes | None = scope.get("raw_path")
        path = (raw or b"").partition(b"?")[0]
        return (Match.FULL, {}) if b"%2f" in path.lower() else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise HTTPException(404)
