"""The service's OpenAPI 3.1 document, generated from the pydantic models and the problem table.

Bodies and responses are the models' JSON Schemas (``models_json_schema``, their ``$defs``
gathered under ``components.schemas``); every problem a route can answer is taken from
``PROBLEMS`` in ``problems.py``, grouped by status, with an example per ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core.core_schema import WithDefaultSchema
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from export_resend import __version__
from export_resend.adapters.http.problems import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    PROBLEM_MEDIA_TYPE,
    PROBLEMS,
    ROUTE_NOT_FOUND,
    InvalidJson,
    PayloadTooLarge,
    ProblemType,
    UnsupportedMediaType,
)
from export_resend.adapters.http.schemas import (
    DeliveryBody,
    ExportEmailsResponse,
    ExportListResponse,
    ExportRequestedResponse,
    ExportResponse,
    IssueBody,
    Problem,
    RecipientsBody,
    ResendEmailRequest,
    ResendEmailResponse,
    ServiceStatus,
)
from export_resend.application.csv_writer import cells, header
from export_resend.application.errors import (
    ClientNotAllowed,
    FieldErrorCode,
    Unauthenticated,
    ValidationFailed,
)
from export_resend.application.list_exports import ListExportsCommand
from export_resend.application.request_export import COMMANDS
from export_resend.domain.caller import ClientType
from export_resend.domain.delivery import DeliveryKind, DeliveryStatus, RecipientOutcome
from export_resend.domain.errors import (
    DomainError,
    ExportExpired,
    ExportForbidden,
    ExportNotFound,
    ExportNotReady,
    ExportTypeNotAllowed,
    TooManyCcRecipients,
)
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.records import TransactionEvent, TransactionEventStatus

OPENAPI_PATH = "/openapi.json"

EXAMPLE_EXPORT_IDS: Mapping[ExportStatus, UUID] = {
    ExportStatus.READY: UUID("0b6a3e52-7c1f-4d8e-9a35-2f4c6b8d1e07"),
    ExportStatus.PENDING: UUID("5d2c8f41-3b7a-4e96-8c10-7a9e4f2b6d38"),
    ExportStatus.FAILED: UUID("9e47b1c6-0f2d-4a83-b5e9-6c1d3a8f2e54"),
    ExportStatus.EXPIRED: UUID("c3f85a2d-6e19-4b70-a4d2-8b5e7c9f1a63"),
}
"""The export ids of the document's examples, by the status they show: a test world that
holds exports under these ids answers the examples as the document says."""

# until merge: problems whose errors land with the idempotency, rate-limit and ops work. Once
# PROBLEMS holds them, `_problem` finds them there and these rows are never read.
_PENDING = {
    p.code: p
    for p in (
        ProblemType(422, "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused"),
        ProblemType(409, "IDEMPOTENCY_KEY_IN_USE", "Idempotency key in use"),
        ProblemType(429, "RATE_LIMITED", "Too many resends"),
        ProblemType(503, "NOT_READY", "Service not ready"),
    )
}
REQUEST_ID_REQUIRED = False
"""Whether the document promises ``X-Request-Id`` on every response (until merge: the
request-id middleware comes with the logging work; then this is True)."""

ROUTE_INDEPENDENT = (ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED, INTERNAL_ERROR)
"""Problems that come from routing or from a fault, not from a route's own errors."""


def _problem(code: str) -> ProblemType:
    for problem in (*PROBLEMS.values(), *ROUTE_INDEPENDENT):
        if problem.code == code:
            return problem
    return _PENDING[code]


IDEMPOTENCY_KEY_REUSED = _problem("IDEMPOTENCY_KEY_REUSED")
IDEMPOTENCY_KEY_IN_USE = _problem("IDEMPOTENCY_KEY_IN_USE")
RATE_LIMITED = _problem("RATE_LIMITED")
NOT_READY = _problem("NOT_READY")

_NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
_READY = EXAMPLE_EXPORT_IDS[ExportStatus.READY]
_DELIVERY_ID = UUID("7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0")
_OWNER = "olivia@acme.example.com"
_CC = ["finance@acme.example.com", "audit@acme.example.com"]


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=False)


# -- schemas -------------------------------------------------------------------------------


class _ComponentSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema without a title on every field (the name already says it),
    nor a ``null`` default on a member that is left out rather than ``null``."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            accepts_null = json_schema.get("type") == "null" or {"type": "null"} in json_schema.get(
                "anyOf", ()
            )
            if not accepts_null:
                del json_schema["default"]
        return json_schema


_DESCRIPTIONS = {
    "ExportCommand": (
        "The body of a supplier payouts or marketplace payouts export request: who gets the "
        "email in copy. `cc` absent, `null` or `[]` means no copy. Other members are ignored, "
        "each with a `FIELD_IGNORED` warning."
    ),
    "TransactionEventsExportCommand": (
        "The body of a transaction events export request: the CC list and the filters (event "
        "statuses, amount range, last update range; a bound left out is open). Other members "
        "are ignored, each with a `FIELD_IGNORED` warning."
    ),
    "FundingTransfersExportCommand": (
        "The body of a funding transfers export request: the CC list and the filters "
        "(creation date range, statuses, suppliers, amount range, source and target balance "
        "account types; a SUPPLIER's own supplier id is always applied). Other members are "
        "ignored, each with a `FIELD_IGNORED` warning."
    ),
}


def _markdown(node: Any) -> Any:
    """Docstrings' ````x```` as Markdown's ```x```, everywhere in a schema."""
    if isinstance(node, dict):
        return {
            key: value.replace("``", "`")
            if key == "description" and isinstance(value, str)
            else _markdown(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_markdown(item) for item in node]
    return node


_MODELS: tuple[tuple[type[BaseModel], JsonSchemaMode], ...] = (
    *((command, "validation") for command in dict.fromkeys(COMMANDS.values())),
    (ResendEmailRequest, "validation"),
    (ListExportsCommand, "validation"),
    (ResendEmailResponse, "serialization"),
    (ExportResponse, "serialization"),
    (ExportRequestedResponse, "serialization"),
    (ExportListResponse, "serialization"),
    (ExportEmailsResponse, "serialization"),
    (Problem, "serialization"),
    (ServiceStatus, "serialization"),
)


def component_schemas() -> dict[str, Any]:
    """Every model's JSON Schema, by name, with ``$ref`` pointing into ``components``."""
    _, top = models_json_schema(
        _MODELS, ref_template="#/components/schemas/{model}", schema_generator=_ComponentSchema
    )
    schemas: dict[str, Any] = _markdown(top["$defs"])
    for name, description in _DESCRIPTIONS.items():
        schemas[name]["description"] = description
    return schemas


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent, never ``null``: drop the ``null`` branch."""
    branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    if len(branches) == 1:
        rest.update(branches[0])
    if "default" in schema and schema["default"] is not None:
        rest["default"] = schema["default"]
    return rest


# -- problems --------------------------------------------------------------------------------


def _issue(code: FieldErrorCode | str, field_name: str, message: str) -> IssueBody:
    return IssueBody(code=str(code), field=field_name, message=message)


@dataclass(frozen=True)
class _ProblemExample:
    """One example of a problem: what it says this time."""

    problem: ProblemType
    detail: str
    name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def value(self, instance: str) -> Any:
        body = Problem(
            type=self.problem.uri,
            title=self.problem.title,
            status=self.problem.status,
            code=self.problem.code,
            detail=self.detail,
            instance=instance,
            **self.extra,
        )
        return body.model_dump(mode="json", by_alias=True, exclude_none=True)


def _invalid(*issues: IssueBody, name: str) -> _ProblemExample:
    detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
    return _ProblemExample(PROBLEMS[ValidationFailed], detail, name, {"errors": list(issues)})


_DEFAULT_EXAMPLES: dict[ProblemType, _ProblemExample] = {
    e.problem: e
    for e in (
        _ProblemExample(
            PROBLEMS[Unauthenticated], "the dj-api-key and dj-client headers are required"
        ),
        _ProblemExample(
            PROBLEMS[ClientNotAllowed], "the dj-client header does not match this API key's client"
        ),
        _ProblemExample(PROBLEMS[ExportForbidden], f"export {_READY} belongs to another user"),
        _ProblemExample(
            PROBLEMS[ExportTypeNotAllowed],
            str(ExportTypeNotAllowed(ClientType.SUPPLIER, ExportType.SUPPLIER_PAYOUTS)),
            extra={"client_type": ClientType.SUPPLIER, "export_type": ExportType.SUPPLIER_PAYOUTS},
        ),
        _ProblemExample(PROBLEMS[ExportExpired], f"export {_READY} has expired"),
        _ProblemExample(PROBLEMS[ExportNotFound], f"export {_READY} not found"),
        _ProblemExample(
            PROBLEMS[ExportNotReady],
            f"export {_READY} is PENDING, not READY",
            extra={"export_status": ExportStatus.PENDING},
        ),
        _ProblemExample(
            PROBLEMS[InvalidJson],
            "body: the body is not valid JSON: Expecting value: line 1 column 9 (char 8)",
            extra={
                "errors": [
                    _issue(
                        FieldErrorCode.BAD_FORMAT,
                        "body",
                        "the body is not valid JSON: Expecting value: line 1 column 9 (char 8)",
                    )
                ]
            },
        ),
        _invalid(_issue(FieldErrorCode.BAD_FORMAT, "exportId", "must be a UUID"), name="exportId"),
        _ProblemExample(PROBLEMS[PayloadTooLarge], str(PayloadTooLarge(64 * 1024))),
        _ProblemExample(
            PROBLEMS[UnsupportedMediaType],
            "the body must be application/json in UTF-8, not text/plain",
        ),
        _ProblemExample(
            PROBLEMS[ClientDisconnect], "The client went away before sending its body."
        ),
        _ProblemExample(PROBLEMS[DomainError], "an export cannot go from FAILED to READY"),
        _ProblemExample(ROUTE_NOT_FOUND, "Not Found"),
        _ProblemExample(METHOD_NOT_ALLOWED, "Method Not Allowed"),
        _ProblemExample(INTERNAL_ERROR, "The server could not handle this request."),
        _ProblemExample(
            IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used with a different request body",
        ),
        _ProblemExample(
            IDEMPOTENCY_KEY_IN_USE,
            "a request with this Idempotency-Key is still being processed",
        ),
        _ProblemExample(
            RATE_LIMITED,
            f"export {_READY} was resent 5 times in the last hour",
            extra={"retry_after": 1260},
        ),
        _ProblemExample(NOT_READY, "the database did not answer in time"),
    )
}

_BAD_IDEMPOTENCY_KEY = _invalid(
    _issue(
        FieldErrorCode.SIZE_LIMIT_EXCEEDED,
        "Idempotency-Key",
        "must be 1 to 255 printable ASCII characters",
    ),
    name="Idempotency-Key",
)


def _problems(
    *errors: type[Exception] | ProblemType,
) -> tuple[ProblemType, ...]:
    return tuple(e if isinstance(e, ProblemType) else PROBLEMS[e] for e in errors)


_AUTHENTICATED = _problems(Unauthenticated, ClientNotAllowed)
_EXPORT_IN_PATH = _problems(ValidationFailed, ROUTE_NOT_FOUND)
_JSON_BODY = _problems(
    InvalidJson,
    ValidationFailed,
    TooManyCcRecipients,
    PayloadTooLarge,
    UnsupportedMediaType,
    ClientDisconnect,
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_KEY_IN_USE,
)


# -- the document ----------------------------------------------------------------------------


def _header(description: str, schema: dict[str, Any], *, required: bool = False) -> Any:
    return {"description": description, "required": required, "schema": schema}


_HEADERS: dict[str, Any] = {
    "X-Request-Id": _header(
        "This request's id, also in every log line about it: quote it when reporting an issue.",
        {"type": "string"},
        required=REQUEST_ID_REQUIRED,
    ),
    "Retry-After": _header(
        "Seconds to wait before trying again.", {"type": "integer", "minimum": 0}
    ),
    "Idempotent-Replayed": _header(
        "`true` when this is the stored response of an earlier request with the same "
        "`Idempotency-Key`; nothing was done again.",
        {"type": "string", "enum": ["true"]},
    ),
    "Location": _header(
        "The new export: `GET` it to follow its status.",
        {"type": "string", "format": "uri-reference"},
        required=True,
    ),
    "WWW-Authenticate": _header(
        "The scheme to use: `dj-api-key`.", {"type": "string"}, required=True
    ),
    "Allow": _header("The methods this path answers.", {"type": "string"}, required=True),
    "Content-Disposition": _header(
        "`attachment` with the file name: type, request date and export id.",
        {"type": "string"},
        required=True,
    ),
    "Content-Length": _header(
        "The file's size in bytes.", {"type": "integer", "minimum": 0}, required=True
    ),
    "ETag": _header("The file's SHA-256, quoted.", {"type": "string"}, required=True),
    "Cache-Control": _header("`private, no-store`.", {"type": "string"}, required=True),
}


def _headers(*names: str, required: Iterable[str] = ()) -> dict[str, Any]:
    """References to the named response headers (and X-Request-Id); ``required`` ones are
    written out, required here though optional elsewhere."""
    headers: dict[str, Any] = {
        name: _ref(name.replace("-", ""), "headers") for name in ("X-Request-Id", *names)
    }
    headers.update({name: {**_HEADERS[name], "required": True} for name in required})
    return headers


_PARAMETERS: dict[str, Any] = {
    "DjClient": {
        "name": "dj-client",
        "in": "header",
        "required": True,
        "description": "The caller's client type; it must be the API key's user's.",
        "schema": _ref("ClientType"),
        "example": ClientType.OPERATOR.value,
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Makes a retry safe: the same key with the same body within 24 hours answers the "
            "stored response (with `Idempotent-Replayed: true`) and does nothing again. 1 to "
            "255 printable ASCII characters; a UUID is a good choice. See docs/api.md."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "^[!-~]([ -~]*[!-~])?$",
        },
        "example": "4f7d2c9e-1b3a-4e8f-a6d5-0c9b8e7f6a51",
    },
    "ExportId": {
        "name": "exportId",
        "in": "path",
        "required": True,
        "description": "The export's id, as the 202 of its request or the email gave it.",
        "schema": {"type": "string", "format": "uuid"},
        "examples": {
            status.value.lower(): {"summary": f"a {status.value} export", "value": str(export_id)}
            for status, export_id in EXAMPLE_EXPORT_IDS.items()
        },
    },
}


def _query_parameters(
    model: type[BaseModel], described: Mapping[str, tuple[str, object]]
) -> list[Any]:
    """One query parameter per field of ``model``, with its description and example."""
    schema = model.model_json_schema(
        ref_template="#/components/schemas/{model}", schema_generator=_ComponentSchema
    )
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", ()),
            "description": described[name][0],
            "schema": _without_null(property_schema),
            "example": described[name][1],
        }
        for name, property_schema in schema["properties"].items()
    ]


@dataclass(frozen=True)
class _Operation:
    """One route as the document describes it."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str
    responses: dict[str, Any]
    problems: tuple[ProblemType, ...] = ()
    problem_examples: tuple[_ProblemExample, ...] = ()
    parameters: tuple[Any, ...] = ()
    request_body: dict[str, Any] | None = None
    public: bool = False

    @property
    def instance(self) -> str:
        return self.path.replace("{exportId}", str(_READY))

    def as_openapi(self) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "operationId": self.operation_id,
            "tags": [self.tag],
            "summary": self.summary,
            "description": self.description,
        }
        parameters = list(self.parameters)
        if not self.public:
            parameters.insert(0, _ref("DjClient", "parameters"))
        if self.method == "post":
            parameters.append(_ref("IdempotencyKey", "parameters"))
        if parameters:
            operation["parameters"] = parameters
        if self.request_body is not None:
            operation["requestBody"] = self.request_body
        operation["responses"] = {**self.responses, **self._problem_responses()}
        if self.public:
            operation["security"] = []
        return operation

    def _problem_responses(self) -> dict[str, Any]:
        problems = (*self.problems, INTERNAL_ERROR)
        by_status: dict[int, list[ProblemType]] = {}
        for problem in problems:
            same = by_status.setdefault(problem.status, [])
            if problem not in same:
                same.append(problem)
        return {
            str(status): self._problem_response(status, found)
            for status, found in sorted(by_status.items())
        }

    def _problem_response(self, status: int, problems: list[ProblemType]) -> dict[str, Any]:
        codes = [p.code for p in problems]
        examples: dict[str, Any] = {}
        for problem in problems:
            own = [e for e in self.problem_examples if e.problem == problem]
            for example in own or [_DEFAULT_EXAMPLES[problem]]:
                name = f"{problem.code}.{example.name}" if example.name else problem.code
                examples[name] = {
                    "summary": problem.title,
                    "value": example.value(self.instance),
                }
        headers = _headers()
        if status == 401:
            headers = _headers("WWW-Authenticate")
        elif status == 429:
            headers = _headers(required=["Retry-After"])
        elif IDEMPOTENCY_KEY_IN_USE in problems:
            headers = _headers("Retry-After")
        return {
            "description": "; ".join(f"`{p.code}`: {p.title}" for p in problems),
            "headers": headers,
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {
                        "allOf": [
                            _ref("Problem"),
                            {
                                "properties": {
                                    "status": {"const": status},
                                    "code": {"enum": codes},
                                }
                            },
                        ]
                    },
                    "examples": examples,
                }
            },
        }


def _json(
    description: str,
    schema: str,
    examples: Mapping[str, BaseModel],
    headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "headers": headers or _headers(),
        "content": {
            "application/json": {
                "schema": _ref(schema),
                "examples": {
                    name: {"summary": name.replace("-", " "), "value": _dump(model)}
                    for name, model in examples.items()
                },
            }
        },
    }
    if links:
        response["links"] = links
    return response


def _export_example(status: ExportStatus) -> ExportResponse:
    ready = status in (ExportStatus.READY, ExportStatus.EXPIRED)
    return ExportResponse(
        export_id=EXAMPLE_EXPORT_IDS[status],
        export_type=ExportType.TRANSACTION_EVENTS,
        status=status,
        requested_at=_NOW - timedelta(minutes=3),
        ready_at=_NOW if ready else None,
        expires_at=_NOW + timedelta(days=7) if ready else None,
        row_count=4321 if ready else None,
        size_bytes=1_234_567 if ready else None,
        cc=_CC,
        failure_reason="the row source timed out" if status is ExportStatus.FAILED else None,
    )


def _csv_example() -> str:
    event = TransactionEvent(
        event_id="evt-000001",
        transaction_id="trx-000001",
        commercial_order_reference="ORDER-2026-0001",
        supplier_id="supplier-42",
        customer_account="ACC-7",
        payment_method="CARD",
        payment_network="VISA",
        psp_reference="psp-9f8e7d",
        status=TransactionEventStatus.PAID,
        amount=Decimal("125.50"),
        currency="EUR",
        updated_at=_NOW,
    )
    return "".join(";".join(row) + "\n" for row in (header(TransactionEvent), cells(event)))


_EXPORT_KINDS = {
    ExportType.TRANSACTION_EVENTS: ("TransactionEvents", "transaction events"),
    ExportType.SUPPLIER_PAYOUTS: ("SupplierPayouts", "supplier payouts"),
    ExportType.FUNDING_TRANSFERS: ("FundingTransfers", "funding transfers"),
    ExportType.MARKETPLACE_PAYOUTS: ("MarketplacePayouts", "marketplace payouts"),
}

_WHO_MAY_REQUEST = {
    ExportType.TRANSACTION_EVENTS: "OPERATOR and SUPPLIER clients",
    ExportType.SUPPLIER_PAYOUTS: "OPERATOR clients only",
    ExportType.FUNDING_TRANSFERS: "OPERATOR and SUPPLIER clients",
    ExportType.MARKETPLACE_PAYOUTS: "OPERATOR clients only",
}

_REQUEST_BODY_EXAMPLES: dict[ExportType, dict[str, Any]] = {
    ExportType.TRANSACTION_EVENTS: {
        "cc": ["finance@acme.example.com"],
        "statuses": ["PAID", "REFUNDED"],
        "amountMin": "10.00",
        "updatedAtFrom": "2026-01-01T00:00:00Z",
        "updatedAtTo": "2026-01-31T23:59:59Z",
    },
    ExportType.FUNDING_TRANSFERS: {
        "cc": ["finance@acme.example.com"],
        "statuses": ["COMPLETED", "FAILED"],
        "amountMin": 100,
        "createdAtFrom": "2026-01-01T00:00:00Z",
    },
    ExportType.SUPPLIER_PAYOUTS: {"cc": ["finance@acme.example.com"]},
    ExportType.MARKETPLACE_PAYOUTS: {"cc": []},
}


def _request_export(name: str, export_type: ExportType) -> _Operation:
    kind, words = _EXPORT_KINDS[export_type]
    command = COMMANDS[export_type].__name__
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
        requested_at=_NOW,
        cc=["finance@acme.example.com"],
        warnings=[],
    )
    return _Operation(
        method="post",
        path=f"/v1/payments/{name}/export",
        operation_id=f"request{kind}Export",
        tag="Export requests",
        summary=f"Request a {words} export",
        description=(
            f"Queues a {words} export for the caller ({_WHO_MAY_REQUEST[export_type]}). The "
            "file is generated in the background; when it is READY, its email (with a signed "
            "download link) goes to the caller and the CC list. No body, `{}` or `null` "
            "exports every row with no CC."
        ),
        parameters=(),
        request_body={
            "required": False,
            "content": {
                "application/json": {
                    "schema": _ref(command),
                    "examples": {
                        "filtered": {"value": _REQUEST_BODY_EXAMPLES[export_type]},
                        "everything": {"summary": "every row, no CC", "value": {}},
                    },
                }
            },
        },
        responses={
            "202": _json(
                "Queued: the export is PENDING. `Location` names it.",
                "ExportRequestedResponse",
                {"queued": requested},
                headers=_headers("Location", "Idempotent-Replayed"),
                links=links,
            )
        },
        problems=(*_AUTHENTICATED, *_problems(ExportTypeNotAllowed, DomainError), *_JSON_BODY),
        problem_examples=(
            _invalid(
                _issue(
                    FieldErrorCode.NOT_IN_ENUM,
                    "statuses[0]",
                    "Input should be 'INIT_PAYMENT', 'CARD_REGISTERED', … or 'REFUND_FAILED'",
                ),
                name="statuses",
            ),
            _invalid(
                _issue(FieldErrorCode.BAD_FORMAT, "cc[0]", "must not contain a line feed"),
                name="cc",
            ),
            _BAD_IDEMPOTENCY_KEY,
        ),
    )


def _resend() -> _Operation:
    receipt = ResendEmailResponse(
        export_id=_READY,
        export_type=ExportType.TRANSACTION_EVENTS,
        status=ExportStatus.READY,
        recipients=RecipientsBody(to=_OWNER, cc=["ceo@acme.example.com"]),
        delivery=DeliveryBody(id=_DELIVERY_ID, status=DeliveryStatus.QUEUED, queued_at=_NOW),
        warnings=[],
    )
    with_warnings = receipt.model_copy(
        update={
            "recipients": receipt.recipients.model_copy(update={"cc": ["a@example.com"]}),
            "warnings": [
                _issue(
                    "DUPLICATE", "cc[1]", "A@example.com appears earlier in the list; sent once"
                ),
                _issue(
                    "PRIMARY_RECIPIENT",
                    "cc[2]",
                    f"{_OWNER} is the primary recipient (To); not copied",
                ),
                _issue("FIELD_IGNORED", "to", "not a field of this request; ignored"),
            ],
        }
    )
    return _Operation(
        method="post",
        path="/v1/exports/{exportId}/resend-email",
        operation_id="ADM-EXPORT-200",
        tag="Exports",
        summary="Resend the export's email",
        description=(
            'Sends the "your export is ready" email again, with a fresh download link to the '
            "same file (never regenerated). Only the export's owner may ask, only while it is "
            "READY. The To is always the caller; `cc` replaces the original CC list for this "
            "email (at most 20 bare addresses; duplicates and the caller's own address are "
            "dropped with a warning). The 200 means the email is committed to the outbox. At "
            "most `EXPORT_RESEND_RESEND_LIMIT_PER_HOUR` (5) resends per export per rolling "
            "hour."
        ),
        parameters=(_ref("ExportId", "parameters"),),
        request_body={
            "required": False,
            "content": {
                "application/json": {
                    "schema": _ref("ResendEmailRequest"),
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
            "200": _json(
                "Queued: the recipients, the delivery, and what was dropped from the CC.",
                "ResendEmailResponse",
                {"queued": receipt, "with-warnings": with_warnings},
                headers=_headers("Idempotent-Replayed"),
            )
        },
        problems=(
            *_AUTHENTICATED,
            *_EXPORT_IN_PATH,
            *_JSON_BODY,
            *_problems(ExportNotFound, ExportForbidden, ExportNotReady, DomainError),
            RATE_LIMITED,
        ),
        problem_examples=(
            _invalid(
                _issue(
                    FieldErrorCode.BAD_FORMAT,
                    "cc[0]",
                    "must be a bare address, without a display name or angle brackets",
                ),
                name="cc",
            ),
            _invalid(
                _issue(
                    FieldErrorCode.SIZE_LIMIT_EXCEEDED,
                    "cc",
                    "Tuple should have at most 20 items after validation, not 21",
                ),
                name="cc-size",
            ),
            _DEFAULT_EXAMPLES[PROBLEMS[ValidationFailed]],
            _BAD_IDEMPOTENCY_KEY,
            _DEFAULT_EXAMPLES[PROBLEMS[ExportNotReady]],
            _ProblemExample(
                PROBLEMS[ExportNotReady],
                f"export {_READY} is EXPIRED, not READY",
                "EXPIRED",
                {"export_status": ExportStatus.EXPIRED},
            ),
        ),
    )


def _emails_example() -> ExportEmailsResponse:
    sent_at = _NOW + timedelta(seconds=2)
    return ExportEmailsResponse.model_validate(
        {
            "exportId": _READY,
            "emails": [
                {
                    "deliveryId": _DELIVERY_ID,
                    "kind": DeliveryKind.INITIAL,
                    "to": _OWNER,
                    "cc": _CC,
                    "status": DeliveryStatus.SENT,
                    "attempts": 1,
                    "results": [
                        {
                            "address": address,
                            "outcome": RecipientOutcome.ACCEPTED,
                            "code": 250,
                            "text": "2.0.0 Ok: queued",
                        }
                        for address in (_OWNER, *_CC)
                    ],
                    "messageId": f"<{_DELIVERY_ID}@export-resend.example.com>",
                    "queuedAt": _NOW,
                    "lastAttemptAt": sent_at,
                    "nextAttemptAt": None,
                    "sentAt": sent_at,
                    "lastError": None,
                }
            ],
        }
    )


def _operations(export_routes: Mapping[str, ExportType]) -> list[_Operation]:
    export_problems = (
        *_AUTHENTICATED,
        *_EXPORT_IN_PATH,
        *_problems(ExportNotFound, ExportForbidden),
    )
    list_parameters = {
        "type": ("Only exports of this type.", ExportType.TRANSACTION_EVENTS.value),
        "status": (
            "Only exports in this effective status (a READY export past its expiry is EXPIRED).",
            ExportStatus.READY.value,
        ),
        "page": ("The page, from 0.", 0),
        "size": ("Exports per page.", 20),
    }
    return [
        *(_request_export(name, export_type) for name, export_type in export_routes.items()),
        _resend(),
        _Operation(
            method="get",
            path="/v1/exports/{exportId}",
            operation_id="getExport",
            tag="Exports",
            summary="Get one export",
            description=(
                "One of the caller's exports, with its effective status: a READY export whose "
                "download period is over is EXPIRED here even before the sweep records it."
            ),
            parameters=(_ref("ExportId", "parameters"),),
            responses={
                "200": _json(
                    "The export.",
                    "ExportResponse",
                    {s.value.lower(): _export_example(s) for s in EXAMPLE_EXPORT_IDS},
                )
            },
            problems=export_problems,
        ),
        _Operation(
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
            parameters=tuple(_query_parameters(ListExportsCommand, list_parameters)),
            responses={
                "200": _json(
                    "One page of exports and how many match in all.",
                    "ExportListResponse",
                    {
                        "page": ExportListResponse(
                            items=[_export_example(s) for s in EXAMPLE_EXPORT_IDS],
                            page=0,
                            size=20,
                            total=4,
                        )
                    },
                )
            },
            problems=(*_AUTHENTICATED, PROBLEMS[ValidationFailed]),
            problem_examples=(
                _invalid(
                    _issue(
                        FieldErrorCode.SIZE_LIMIT_EXCEEDED,
                        "size",
                        "Input should be less than or equal to 100",
                    ),
                    name="size",
                ),
                _invalid(
                    _issue(
                        FieldErrorCode.NOT_IN_ENUM,
                        "status",
                        "Input should be 'PENDING', 'READY', 'FAILED' or 'EXPIRED'",
                    ),
                    name="status",
                ),
            ),
        ),
        _Operation(
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
            parameters=(_ref("ExportId", "parameters"),),
            responses={
                "200": _json(
                    "The export's emails.", "ExportEmailsResponse", {"sent": _emails_example()}
                )
            },
            problems=export_problems,
        ),
        _Operation(
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
                _ref("ExportId", "parameters"),
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
                    "headers": _headers(
                        "Content-Disposition", "Content-Length", "ETag", "Cache-Control"
                    ),
                    "content": {
                        "text/csv": {
                            "schema": {"type": "string"},
                            "example": _csv_example(),
                        }
                    },
                }
            },
            problems=(
                *_EXPORT_IN_PATH,
                *_problems(ExportNotFound, ExportExpired),
            ),
            problem_examples=(
                _invalid(
                    _issue(FieldErrorCode.MISSING, "token", "the link's token is missing"),
                    name="token",
                ),
                _DEFAULT_EXAMPLES[PROBLEMS[ValidationFailed]],
            ),
            public=True,
        ),
        _Operation(
            method="get",
            path=OPENAPI_PATH,
            operation_id="getOpenApiDocument",
            tag="Service",
            summary="This document",
            description="The OpenAPI 3.1 description of the service. No API key needed.",
            responses={
                "200": {
                    "description": "The OpenAPI document.",
                    "headers": _headers(),
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["openapi", "info", "paths"],
                                "properties": {"openapi": {"const": "3.1.0"}},
                            },
                            "example": {
                                "openapi": "3.1.0",
                                "info": {"title": "export-resend", "version": __version__},
                                "paths": {},
                            },
                        }
                    },
                }
            },
            public=True,
        ),
        _Operation(
            method="get",
            path="/livez",
            operation_id="getLiveness",
            tag="Service",
            summary="Is the process alive",
            description="Checks nothing but the process: a 200 means it answers requests.",
            responses={"200": _json("Alive.", "ServiceStatus", {"ok": ServiceStatus(status="ok")})},
            public=True,
        ),
        _Operation(
            method="get",
            path="/readyz",
            operation_id="getReadiness",
            tag="Service",
            summary="Is the service ready",
            description="Checks the database, with a timeout: a 503 until it answers.",
            responses={"200": _json("Ready.", "ServiceStatus", {"ok": ServiceStatus(status="ok")})},
            problems=(NOT_READY,),
            public=True,
        ),
        _Operation(
            method="get",
            path="/metrics",
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
                    "headers": _headers(),
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
        ),
    ]


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


def openapi_document(export_routes: Mapping[str, ExportType]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the service whose export requests are ``export_routes``
    (``POST /v1/payments/{name}/export`` for each name)."""
    paths: dict[str, Any] = {}
    for operation in _operations(export_routes):
        paths.setdefault(operation.path, {})[operation.method] = operation.as_openapi()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "export-resend",
            "version": __version__,
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
            "parameters": _PARAMETERS,
            "headers": {name.replace("-", ""): header for name, header in _HEADERS.items()},
            "responses": {
                "MethodNotAllowed": _method_not_allowed(),
            },
        },
    }


def _method_not_allowed() -> dict[str, Any]:
    return {
        "description": (
            "`METHOD_NOT_ALLOWED`: a path of this document asked with a method it does not "
            "list; `Allow` names those it does."
        ),
        "headers": _headers("Allow"),
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": _ref("Problem"),
                "example": _DEFAULT_EXAMPLES[METHOD_NOT_ALLOWED].value("/v1/exports"),
            }
        },
    }


class OpenApiEndpoint:
    """``GET /openapi.json``: the document, built at the first request and kept."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._body: bytes | None = None

    async def get(self, request: Request) -> Response:
        del request
        if self._body is None:
            self._body = json.dumps(self._build(), ensure_ascii=False).encode("utf-8")
        return Response(self._body, media_type="application/json")


__all__ = [
    "EXAMPLE_EXPORT_IDS",
    "OPENAPI_PATH",
    "REQUEST_ID_REQUIRED",
    "ROUTE_INDEPENDENT",
    "OpenApiEndpoint",
    "component_schemas",
    "openapi_document",
]
