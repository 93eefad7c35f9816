"""One table from error to HTTP problem (RFC 9457), and the handlers that use it."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

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
from export_resend.domain.ports import StorageUnavailable

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_CODE_SCOPE = "export_resend.problem_code"
STORAGE_RETRY_AFTER_SECONDS = 5
"""What a 503 STORAGE_UNAVAILABLE asks a client to wait before trying again."""


class InvalidJson(ValidationFailed):
    """The body is not JSON."""

    def __init__(self, reason: str) -> None:
        super().__init__([FieldIssue(FieldErrorCode.BAD_FORMAT.value, "body", reason)])


class PayloadTooLarge(Exception):
    """The body is larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class UnsupportedMediaType(Exception):
    """The body is not declared as UTF-8 JSON; ``content_type`` is what it was declared as."""

    def __init__(self, content_type: str | None) -> None:
        super().__init__(
            f"the body must be application/json in UTF-8, not {content_type or 'undeclared'}"
        )
        self.content_type = content_type


@dataclass(frozen=True, slots=True)
class ProblemType:
    """A kind of problem: its status, its stable code, and a title that never varies."""

    status: int
    code: str
    title: str

    @property
    def uri(self) -> str:
        """The stable ``type`` URI; docs/architecture.md lists them all."""
        return f"urn:export-resend:problem:{self.code.lower().replace('_', '-')}"


PROBLEMS: dict[type[Exception], ProblemType] = {
    Unauthenticated: ProblemType(401, "UNAUTHENTICATED", "Authentication required"),
    ClientNotAllowed: ProblemType(403, "CLIENT_NOT_ALLOWED", "Client type not allowed"),
    ExportForbidden: ProblemType(403, "EXPORT_FORBIDDEN", "Not your export"),
    ExportTypeNotAllowed: ProblemType(
        403, "EXPORT_TYPE_NOT_ALLOWED", "Export type not allowed for this client"
    ),
    ExportExpired: ProblemType(410, "EXPORT_EXPIRED", "Export expired"),
    ExportNotFound: ProblemType(404, "EXPORT_NOT_FOUND", "Export not found"),
    ExportNotReady: ProblemType(409, "EXPORT_NOT_READY", "Export not READY"),
    ResendRateLimited: ProblemType(429, "RATE_LIMITED", "Too many resends of this export"),
    IdempotencyKeyReused: ProblemType(
        422, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key reused with another body"
    ),
    IdempotencyKeyInUse: ProblemType(
        409, "IDEMPOTENCY_KEY_IN_USE", "A request with this Idempotency-Key is in progress"
    ),
    InvalidJson: ProblemType(400, "INVALID_JSON", "Malformed JSON body"),
    ValidationFailed: ProblemType(400, "VALIDATION_FAILED", "Invalid request"),
    PayloadTooLarge: ProblemType(413, "PAYLOAD_TOO_LARGE", "Request body too large"),
    UnsupportedMediaType: ProblemType(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    TooManyCcRecipients: ProblemType(400, "VALIDATION_FAILED", "Invalid request"),
    ClientDisconnect: ProblemType(400, "CLIENT_DISCONNECTED", "Request body incomplete"),
    NotReady: ProblemType(503, "NOT_READY", "Service not ready"),
    ServiceNotRunning: ProblemType(503, "SERVICE_NOT_RUNNING", "Service not running"),
    StorageUnavailable: ProblemType(503, "STORAGE_UNAVAILABLE", "Storage unavailable"),
    DomainError: ProblemType(409, "RULE_VIOLATED", "The request breaks a rule"),
}
"""Every error a request can meet on purpose, by class; the first match in MRO order wins."""

ROUTE_NOT_FOUND = ProblemType(404, "ROUTE_NOT_FOUND", "No such route")
METHOD_NOT_ALLOWED = ProblemType(405, "METHOD_NOT_ALLOWED", "Method not allowed")
INTERNAL_ERROR = ProblemType(500, "INTERNAL_ERROR", "Internal error")
_BY_STATUS = {p.status: p for p in (ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED)}


def problem_type(exc: Exception) -> ProblemType:
    """The problem type of a known error, or of Starlette's ``HTTPException``;
    ``INTERNAL_ERROR`` for anything else."""
    if isinstance(exc, HTTPException):
        return _BY_STATUS.get(
            exc.status_code, ProblemType(exc.status_code, "HTTP_ERROR", exc.detail)
        )
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return INTERNAL_ERROR


def _path(request: Request) -> str:
    # not request.url.path: that decodes the query string as UTF-8 first, and a query string
    # is bytes that need not be (?size=%FF is text, ?size=\xff is not)
    return URL(scope={**request.scope, "query_string": b""}).path


@dataclass(frozen=True, slots=True)
class ProblemAnswer:
    """What the service answers to one error: its problem type, body and headers."""

    problem: ProblemType
    body: dict[str, Any]
    headers: dict[str, str]

    def response(self) -> Response:
        """The ``application/problem+json`` response."""
        return JSONResponse(
            self.body, self.problem.status, self.headers, media_type=PROBLEM_MEDIA_TYPE
        )


def problem_answer(exc: Exception, instance: str) -> ProblemAnswer:
    """The answer to ``exc`` at the path ``instance``: the handlers send it, and the OpenAPI
    document shows it as the example of its problem."""
    problem = problem_type(exc)
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "code": problem.code,
        "detail": _detail(exc, problem),
        "instance": instance,
        **_extra(exc),
    }
    return ProblemAnswer(problem, body, _headers(exc))


def _detail(exc: Exception, problem: ProblemType) -> str:
    if problem is INTERNAL_ERROR:
        return "The server could not handle this request."
    if isinstance(exc, ClientDisconnect):
        return "The client went away before sending its body."
    if isinstance(exc, StorageUnavailable):  # the driver's words may name hosts and users
        return "The database cannot be reached now; nothing was done. Try again shortly."
    if isinstance(exc, HTTPException):
        return exc.detail
    return str(exc)


def _extra(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, ExportNotReady):
        return {"exportStatus": exc.status.value}
    if isinstance(exc, ExportTypeNotAllowed):
        return {"clientType": exc.client_type.value, "exportType": exc.export_type.value}
    if isinstance(exc, ResendRateLimited):
        return {"retryAfter": exc.retry_after_seconds, "limit": exc.limit}
    issues: tuple[FieldIssue, ...] = ()
    if isinstance(exc, ValidationFailed):
        issues = exc.errors
    elif isinstance(exc, TooManyCcRecipients):
        issues = (FieldIssue(FieldErrorCode.SIZE_LIMIT_EXCEEDED.value, "cc", str(exc)),)
    return {"errors": [dataclasses.asdict(issue) for issue in issues]} if issues else {}


def _headers(exc: Exception) -> dict[str, str]:
    if isinstance(exc, HTTPException):
        return dict(exc.headers or {})  # Starlette's own: Allow on a 405
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": 'dj-api-key realm="export-resend"'}
    if isinstance(exc, ResendRateLimited | IdempotencyKeyInUse):
        return {"Retry-After": str(exc.retry_after_seconds)}
    if isinstance(exc, StorageUnavailable):
        return {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)}
    return {}


async def handle_error(request: Request, exc: Exception) -> Response:
    """Any error as its problem: a known one as ``PROBLEMS`` says, Starlette's own 404 and 405
    (unknown route or method) too, anything else as a 500 that says nothing inside. The
    problem's code is left in the request's scope for the access line (``answered_code``)."""
    if isinstance(exc, StorageUnavailable):
        log.warning("the database cannot be reached: %s", type(exc.__cause__ or exc).__name__)
    answer = problem_answer(exc, _path(request))
    request.scope[_CODE_SCOPE] = answer.problem.code
    return answer.response()


def answered_code(scope: Scope) -> str | None:
    """The code of the problem ``handle_error`` answered the request of ``scope`` with."""
    code: str | None = scope.get(_CODE_SCOPE)
    return code


def exception_handlers() -> dict[Any, Any]:
    """Handlers for Starlette's ``exception_handlers``: every error becomes a problem."""
    return dict.fromkeys((*PROBLEMS, HTTPException, Exception), handle_error)
