"""Errors of the application layer: bad input and bad credentials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class FieldErrorCode(StrEnum):
    """The platform's functional error codes for one field."""

    MISSING = "F-E-001"
    NOT_IN_ENUM = "F-E-008"
    SIZE_LIMIT_EXCEEDED = "F-E-010"
    BAD_FORMAT = "F-E-012"


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """A problem, or a warning, about one field: ``cc[3]``, ``exportId``, ``body``."""

    code: str
    field: str
    message: str


class ApplicationError(Exception):
    """A request the application refuses. Never a server fault."""


class ValidationFailed(ApplicationError):
    """The input does not satisfy the command's schema; ``errors`` says where and why."""

    def __init__(self, errors: Sequence[FieldIssue]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = tuple(errors)


class Unauthenticated(ApplicationError):
    """No credentials, or credentials that match no key."""


class ClientNotAllowed(ApplicationError):
    """The key is valid but the ``dj-client`` given is not its user's client type."""


class ServiceNotRunning(ApplicationError):
    """The service's storage is not open: neither ``running()`` nor the app's lifespan ran."""

    def __init__(self) -> None:
        super().__init__(
            "export-resend is not running: its storage is not open and no background work"
            " runs. Enter `async with service.running():` (the ExportResend object) in the"
            " host's lifespan, or serve the app with its own lifespan"
        )
