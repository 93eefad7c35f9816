"""The problems a route may answer, taken from ``PROBLEMS``, and an example of each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect

from export_resend.adapters.http.openapi.examples import READY_ID
from export_resend.adapters.http.problems import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    PROBLEMS,
    ROUTE_NOT_FOUND,
    InvalidJson,
    PayloadTooLarge,
    ProblemType,
    UnsupportedMediaType,
)
from export_resend.adapters.http.schemas import IssueBody, Problem
from export_resend.application.errors import (
    ClientNotAllowed,
    FieldErrorCode,
    Unauthenticated,
    ValidationFailed,
)
from export_resend.domain.caller import ClientType
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

ROUTE_INDEPENDENT = (ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED, INTERNAL_ERROR)
"""Problems that come from routing or from a fault, not from a route's own errors."""


def _problem(code: str) -> ProblemType:
    for problem in (*PROBLEMS.values(), *ROUTE_INDEPENDENT):
        if problem.code == code:
            return problem
    raise LookupError(f"no problem has the code {code}")


IDEMPOTENCY_KEY_REUSED = _problem("IDEMPOTENCY_KEY_REUSED")
IDEMPOTENCY_KEY_IN_USE = _problem("IDEMPOTENCY_KEY_IN_USE")
RATE_LIMITED = _problem("RATE_LIMITED")
NOT_READY = _problem("NOT_READY")


def issue(code: FieldErrorCode | str, field_name: str, message: str) -> IssueBody:
    return IssueBody(code=str(code), field=field_name, message=message)


@dataclass(frozen=True)
class ProblemExample:
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


def invalid(*issues: IssueBody, name: str) -> ProblemExample:
    detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
    return ProblemExample(PROBLEMS[ValidationFailed], detail, name, {"errors": list(issues)})


DEFAULT_EXAMPLES: dict[ProblemType, ProblemExample] = {
    e.problem: e
    for e in (
        ProblemExample(
            PROBLEMS[Unauthenticated], "the dj-api-key and dj-client headers are required"
        ),
        ProblemExample(
            PROBLEMS[ClientNotAllowed], "the dj-client header does not match this API key's client"
        ),
        ProblemExample(PROBLEMS[ExportForbidden], f"export {READY_ID} belongs to another user"),
        ProblemExample(
            PROBLEMS[ExportTypeNotAllowed],
            str(ExportTypeNotAllowed(ClientType.SUPPLIER, ExportType.SUPPLIER_PAYOUTS)),
            extra={"client_type": ClientType.SUPPLIER, "export_type": ExportType.SUPPLIER_PAYOUTS},
        ),
        ProblemExample(PROBLEMS[ExportExpired], f"export {READY_ID} has expired"),
        ProblemExample(PROBLEMS[ExportNotFound], f"export {READY_ID} not found"),
        ProblemExample(
            PROBLEMS[ExportNotReady],
            f"export {READY_ID} is PENDING, not READY",
            extra={"export_status": ExportStatus.PENDING},
        ),
        ProblemExample(
            PROBLEMS[InvalidJson],
            "body: the body is not valid JSON: Expecting value: line 1 column 9 (char 8)",
            extra={
                "errors": [
                    issue(
                        FieldErrorCode.BAD_FORMAT,
                        "body",
                        "the body is not valid JSON: Expecting value: line 1 column 9 (char 8)",
                    )
                ]
            },
        ),
        invalid(issue(FieldErrorCode.BAD_FORMAT, "exportId", "must be a UUID"), name="exportId"),
        ProblemExample(PROBLEMS[PayloadTooLarge], str(PayloadTooLarge(64 * 1024))),
        ProblemExample(
            PROBLEMS[UnsupportedMediaType],
            "the body must be application/json in UTF-8, not text/plain",
        ),
        ProblemExample(PROBLEMS[ClientDisconnect], "The client went away before sending its body."),
        ProblemExample(PROBLEMS[DomainError], "an export cannot go from FAILED to READY"),
        ProblemExample(ROUTE_NOT_FOUND, "Not Found"),
        ProblemExample(METHOD_NOT_ALLOWED, "Method Not Allowed"),
        ProblemExample(INTERNAL_ERROR, "The server could not handle this request."),
        ProblemExample(
            IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used with a different request body",
        ),
        ProblemExample(
            IDEMPOTENCY_KEY_IN_USE,
            "a request with this Idempotency-Key is still being processed",
        ),
        ProblemExample(
            RATE_LIMITED,
            f"export {READY_ID} was resent 5 times in the last hour",
            extra={"retry_after": 1260, "limit": 5},
        ),
        ProblemExample(NOT_READY, "the database did not answer in time"),
    )
}

BAD_IDEMPOTENCY_KEY = invalid(
    issue(
        FieldErrorCode.SIZE_LIMIT_EXCEEDED,
        "Idempotency-Key",
        "must be 1 to 255 printable ASCII characters",
    ),
    name="Idempotency-Key",
)


def problem_types(
    *errors: type[Exception] | ProblemType,
) -> tuple[ProblemType, ...]:
    """The problem types of these errors (by ``PROBLEMS``) and of these problems."""
    return tuple(e if isinstance(e, ProblemType) else PROBLEMS[e] for e in errors)


AUTHENTICATED = problem_types(Unauthenticated, ClientNotAllowed)
EXPORT_IN_PATH = problem_types(ValidationFailed, ROUTE_NOT_FOUND)
JSON_BODY = problem_types(
    InvalidJson,
    ValidationFailed,
    TooManyCcRecipients,
    PayloadTooLarge,
    UnsupportedMediaType,
    ClientDisconnect,
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_KEY_IN_USE,
)
