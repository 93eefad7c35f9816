"""The parts the document is made of: the models' JSON Schemas, headers, parameters, and
an operation that turns its problems into responses."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic.alias_generators import to_snake
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core.core_schema import WithDefaultSchema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from export_resend.adapters.http.idempotency import HEADER, KEY_PATTERN, MAX_KEY_LENGTH, REPLAYED
from export_resend.adapters.http.openapi.examples import EXAMPLE_EXPORT_IDS, READY_ID
from export_resend.adapters.http.openapi.problem_examples import DEFAULT_EXAMPLES, ProblemExample
from export_resend.adapters.http.problems import (
    INTERNAL_ERROR,
    PROBLEM_MEDIA_TYPE,
    ProblemAnswer,
    ProblemType,
)
from export_resend.adapters.http.schemas import (
    ExportEmailsResponse,
    ExportListResponse,
    ExportRequestedResponse,
    ExportResponse,
    Problem,
    ResendEmailRequest,
    ResendEmailResponse,
    ServiceStatus,
)
from export_resend.application.list_exports import ListExportsCommand
from export_resend.application.request_export import (
    COMMANDS,
    ExportCommand,
    FilteredExportCommand,
    derived_command,
)
from export_resend.domain.caller import ClientType
from export_resend.domain.delivery import ResendLimit
from export_resend.domain.export_types import KINDS

OwnerT = TypeVar("OwnerT")
_PARAMETER = re.compile(r"\{(\w+)\}")
REQUEST_ID_REQUIRED = True
"""The document promises ``X-Request-Id`` on every response (``access.RequestContext``)."""


def ref(name: str, kind: str = "schemas") -> dict[str, str]:
    """A ``$ref`` to the component ``name`` of ``kind``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def dump(model: BaseModel) -> Any:
    """The JSON the service writes for ``model``."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=False)


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


@dataclass(frozen=True, slots=True)
class Policies:
    """What the document tells clients that this service's configuration decides."""

    resend_limit: ResendLimit
    idempotency_retention: timedelta


def duration(span: timedelta) -> str:
    """``span`` in words: "1 hour", "24 hours", "90 seconds"."""
    seconds = int(span.total_seconds())
    for unit, length in (("hour", 3_600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            count = seconds // length
            return f"{count} {unit}" + ("s" if count > 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")


def rolling(span: timedelta) -> str:
    """``span`` after "per rolling": "hour", "2 hours"."""
    return duration(span).removeprefix("1 ")


_IGNORED = "Other members are ignored, each with a `FIELD_IGNORED` warning."


def _body_description(command: type[ExportCommand]) -> str:
    """What the body of an export request holds, from the kinds it is the command of."""
    kinds = [kind for kind in KINDS.values() if derived_command(kind) is command]
    labels = " or ".join(kind.label for kind in kinds)
    if not issubclass(command, FilteredExportCommand):
        return (
            f"The body of a {labels} export request: who gets the email in copy. `cc` absent, "
            f"`null` or `[]` means no copy. {_IGNORED}"
        )
    filters = ", ".join(
        f"`{info.alias}`" for name, info in command.model_fields.items() if name != "cc"
    )
    scoped = (
        " A SUPPLIER's export holds its own rows only, whatever the filters say."
        if any(ClientType.SUPPLIER in kind.requestable_by for kind in kinds)
        else ""
    )
    return (
        f"The body of a {labels} export request: the CC list (`cc`, as in every request) and "
        f"the filters ({filters}). A bound left out is open, a list left out or empty takes "
        f"any value.{scoped} {_IGNORED}"
    )


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
    for command in dict.fromkeys(COMMANDS.values()):
        schemas[command.__name__]["description"] = _body_description(command)
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


def _header(description: str, schema: dict[str, Any], *, required: bool = False) -> Any:
    return {"description": description, "required": required, "schema": schema}


HEADERS: dict[str, Any] = {
    "X-Request-Id": _header(
        "This request's id (yours, if you sent a well-formed one), also in every log line "
        "about it: quote it when reporting an issue.",
        {"type": "string"},
        required=REQUEST_ID_REQUIRED,
    ),
    "Retry-After": _header(
        "Seconds to wait before trying again.", {"type": "integer", "minimum": 0}
    ),
    REPLAYED: _header(
        f"`true` when this is the answer of an earlier request with the same `{HEADER}`, "
        "given again; nothing was done again.",
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


def response_headers(*names: str) -> dict[str, Any]:
    """References to the named response headers (and X-Request-Id)."""
    return {name: ref(name.replace("-", ""), "headers") for name in ("X-Request-Id", *names)}


def problem_headers(answers: Iterable[ProblemAnswer]) -> dict[str, Any]:
    """The headers of a problem response whose answers are ``answers``: each one any of them
    carries, required if all of them do (written out where its component says otherwise)."""
    carried = [answer.headers for answer in answers]
    headers = response_headers()
    for name in dict.fromkeys(name for sent in carried for name in sent):
        required = all(name in sent for sent in carried)
        headers[name] = (
            ref(name.replace("-", ""), "headers")
            if HEADERS[name]["required"] == required
            else {**HEADERS[name], "required": required}
        )
    return headers


def parameters(policies: Policies) -> dict[str, Any]:
    """The parameters several operations share, by name."""
    return {**_PARAMETERS, "IdempotencyKey": _idempotency_key(policies)}


def _idempotency_key(policies: Policies) -> dict[str, Any]:
    return {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Makes a retry safe: the same key with the same body within "
            f"{duration(policies.idempotency_retention)} answers what the first request "
            f"answered (with `{REPLAYED}: true`) and does nothing again. 1 to "
            f"{MAX_KEY_LENGTH} printable ASCII characters; a UUID is a good choice. See "
            "docs/api.md."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": KEY_PATTERN,
        },
        "example": "4f7d2c9e-1b3a-4e8f-a6d5-0c9b8e7f6a51",
    }


_PARAMETERS: dict[str, Any] = {
    "DjClient": {
        "name": "dj-client",
        "in": "header",
        "required": True,
        "description": "The caller's client type; it must be the API key's user's.",
        "schema": ref("ClientType"),
        "example": ClientType.OPERATOR.value,
    },
    "RequestId": {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "description": (
            "Your id for this request, to find it in the service's logs: used when it is 1 to "
            "128 letters, digits, `.`, `_`, `:` or `-`, else replaced by a new one. The "
            "response's `X-Request-Id` says which."
        ),
        "schema": {"type": "string"},
        "example": "checkout-7f3a9c",
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


def query_parameters(
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


def route_path(path: str) -> str:
    """A path of the document as Starlette matches it: parameters in snake case
    (``{exportId}`` is ``{export_id}``)."""
    return _PARAMETER.sub(lambda found: "{" + to_snake(found[1]) + "}", path)


Endpoint = Callable[[OwnerT, Request], Awaitable[Response]]
"""What answers an operation: a function of the object that serves it and the request."""


@dataclass(frozen=True)
class Operation(Generic[OwnerT]):
    """One route: its method and path, the endpoint that answers it (given the object that
    serves it: ``route(owner)``), and how the document describes it."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str | Callable[[Policies], str]
    """Its text, or how the configuration's numbers make it."""
    responses: dict[str, Any]
    endpoint: Endpoint[OwnerT]
    problems: tuple[ProblemType, ...] = ()
    problem_examples: tuple[ProblemExample, ...] = ()
    parameters: tuple[Any, ...] = ()
    request_body: dict[str, Any] | None = None
    public: bool = False

    @property
    def instance(self) -> str:
        return self.path.replace("{exportId}", str(READY_ID))

    @property
    def route_path(self) -> str:
        """The path as Starlette matches it (``route_path``)."""
        return route_path(self.path)

    def route(self, owner: OwnerT) -> Route:
        """The route that answers this operation with ``owner``'s endpoint."""
        return Route(
            self.route_path,
            functools.partial(self.endpoint, owner),
            methods=[self.method.upper()],
            name=self.operation_id,
        )

    def as_openapi(self, policies: Policies) -> dict[str, Any]:
        """This operation in the document of a service configured as ``policies`` say."""
        described = self.description
        operation: dict[str, Any] = {
            "operationId": self.operation_id,
            "tags": [self.tag],
            "summary": self.summary,
            "description": described if isinstance(described, str) else described(policies),
        }
        parameters = list(self.parameters)
        if not self.public:
            parameters.insert(0, ref("DjClient", "parameters"))
        if self.method == "post":
            parameters.append(ref("IdempotencyKey", "parameters"))
        operation["parameters"] = [*parameters, ref("RequestId", "parameters")]
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

    def examples_of(self, problem: ProblemType) -> list[tuple[str, ProblemExample]]:
        """The examples of ``problem`` this operation shows, by name: its own, or else the
        problem's default one."""
        own = [e for e in self.problem_examples if e.problem == problem]
        return [
            (f"{problem.code}.{example.name}" if example.name else problem.code, example)
            for example in own or [DEFAULT_EXAMPLES[problem]]
        ]

    def _problem_response(self, status: int, problems: list[ProblemType]) -> dict[str, Any]:
        codes = [p.code for p in problems]
        examples: dict[str, Any] = {}
        answers: list[ProblemAnswer] = []
        for problem in problems:
            for name, example in self.examples_of(problem):
                answer = example.answer(self.instance)
                examples[name] = {"summary": problem.title, "value": answer.body}
                answers.append(answer)
        return {
            "description": "; ".join(f"`{p.code}`: {p.title}" for p in problems),
            "headers": problem_headers(answers),
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {
                        "allOf": [
                            ref("Problem"),
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


def json_body(schema: str) -> dict[str, Any]:
    """The schema of a POST body: the component ``schema``, or ``null`` (read as no body)."""
    return {"anyOf": [ref(schema), {"type": "null"}]}


def json_response(
    description: str,
    schema: str,
    examples: Mapping[str, BaseModel],
    headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON response whose body is the component ``schema``, with ``examples`` by name."""
    response: dict[str, Any] = {
        "description": description,
        "headers": headers or response_headers(),
        "content": {
            "application/json": {
                "schema": ref(schema),
                "examples": {
                    name: {"summary": name.replace("-", " "), "value": dump(model)}
                    for name, model in examples.items()
                },
            }
        },
    }
    if links:
        response["links"] = links
    return response
