"""The problems a route may answer, taken from ``PROBLEMS``, and an example of each: a real
error, shown as ``problem_answer`` (what the handlers send) answers it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from export_resend.adapters.http.body import MAX_BODY_BYTES
from export_resend.adapters.http.idempotency import MAX_KEY_LENGTH, checked_key
from export_resend.adapters.http.openapi.examples import READY_ID
from export_resend.adapters.http.problems import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    PROBLEMS,
    ROUTE_NOT_FOUND,
    InvalidJson,
    PayloadTooLarge,
    ProblemAnswer,
    ProblemType,
    UnsupportedMediaType,
    problem_answer,
    problem_type,
)
from export_resend.application.check_readiness import NotReady
from export_resend.application.errors import (
    ClientNotAllowed,
    FieldErrorCode,
    FieldIssue,
    ServiceNotRunning,
    Unauthenticated,
    ValidationFailed,
)
from export_resend.application.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from export_resend.domain.caller import ClientType
from export_resend.domain.errors import (
    ExportExpired,
    ExportForbidden,
    ExportNotFound,
    ExportNotReady,
    ExportTypeNotAllowed,
    InvalidTransition,
    ResendRateLimited,
    TooManyCcRecipients,
)
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.ports import StorageUnavailable

ROUTE_INDEPENDENT = (ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED, INTERNAL_ERROR)
"""Problems that come from routing or from a fault, not from a route's own errors."""


@dataclass(frozen=True)
class ProblemExample:
    """One error a route may meet, named when the route shows more than one of its problem."""

    error: Exception
    name: str = ""

    @property
    def problem(self) -> ProblemType:
        """The problem the error is answered as."""
        return problem_type(self.error)

    def answer(self, instance: str) -> ProblemAnswer:
        """What the service answers to the error at the path ``instance``."""
        return problem_answer(self.error, instance)


def invalid(code: FieldErrorCode, field_name: str, message: str, *, name: str) -> ProblemExample:
    """A ``VALIDATION_FAILED`` example: ``field_name`` breaks its schema."""
    return ProblemExample(ValidationFailed([FieldIssue(code.value, field_name, message)]), name)


def _refused_key(value: str) -> ValidationFailed:
    try:
        checked_key(value)
    except ValidationFailed as exc:
        return exc
    raise AssertionError(f"{value!r} is a valid Idempotency-Key")


DEFAULT_EXAMPLES: dict[ProblemType, ProblemExample] = {
    e.problem: e
    for e in (
        ProblemExample(Unauthenticated("the dj-api-key and dj-client headers are required")),
        ProblemExample(
            ClientNotAllowed("the dj-client header does not match this API key's client")
        ),
        ProblemExample(ExportForbidden(READY_ID)),
        ProblemExample(ExportTypeNotAllowed(ClientType.SUPPLIER, ExportType.SUPPLIER_PAYOUTS)),
        ProblemExample(ExportExpired(READY_ID)),
        ProblemExample(ExportNotFound(READY_ID)),
        ProblemExample(ExportNotReady(READY_ID, ExportStatus.PENDING)),
        ProblemExample(
            InvalidJson("the body is not valid JSON: Expecting value: line 1 column 9 (char 8)")
        ),
        invalid(FieldErrorCode.BAD_FORMAT, "exportId", "must be a UUID", name="exportId"),
        ProblemExample(PayloadTooLarge(MAX_BODY_BYTES)),
        ProblemExample(UnsupportedMediaType("text/plain")),
        ProblemExample(ClientDisconnect()),
        ProblemExample(InvalidTransition(ExportStatus.FAILED, ExportStatus.READY)),
        ProblemExample(HTTPException(404)),
        ProblemExample(HTTPException(405, headers={"Allow": "POST"})),
        ProblemExample(RuntimeError("a fault the service did not expect")),
        ProblemExample(IdempotencyKeyReused()),
        ProblemExample(IdempotencyKeyInUse(42)),
        ProblemExample(ResendRateLimited(READY_ID, 5, 1260)),
        ProblemExample(NotReady("the database did not answer within 2 s")),
        ProblemExample(ServiceNotRunning()),
        ProblemExample(StorageUnavailable("OSError: connection refused")),
    )
}

BAD_IDEMPOTENCY_KEY = ProblemExample(_refused_key("k" * (MAX_KEY_LENGTH + 1)), "Idempotency-Key")


def problem_types(
    *errors: type[Exception] | ProblemType,
) -> tuple[ProblemType, ...]:
    """The problem types of these errors (by ``PROBLEMS``) and of these problems."""
    return tuple(e if isinstance(e, ProblemType) else PROBLEMS[e] for e in errors)


STORED = problem_types(ServiceNotRunning, StorageUnavailable)
"""The problems of every route that reads or writes the storage: the service is not running,
or its database cannot be reached."""
AUTHENTICATED = (*problem_types(Unauthenticated, ClientNotAllowed), *STORED)
EXPORT_IN_PATH = problem_types(ValidationFailed, ROUTE_NOT_FOUND)
JSON_BODY = problem_types(
    InvalidJson,
    ValidationFailed,
    TooManyCcRecipients,
    PayloadTooLarge,
    UnsupportedMediaType,
    ClientDisconnect,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
)
