"""Turn pydantic's validation errors into the platform's field errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed

_CODES = {
    "missing": FieldErrorCode.MISSING,
    "too_long": FieldErrorCode.SIZE_LIMIT_EXCEEDED,
    "string_too_long": FieldErrorCode.SIZE_LIMIT_EXCEEDED,
    "enum": FieldErrorCode.NOT_IN_ENUM,
    "literal_error": FieldErrorCode.NOT_IN_ENUM,
    "less_than_equal": FieldErrorCode.SIZE_LIMIT_EXCEEDED,
}

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("cc", 3)`` → ``cc[3]``; ``("filters", "statuses", 0)`` → ``filters.statuses[0]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "body"


def field_issue(error: ErrorDetails) -> FieldIssue:
    """One pydantic error as a platform field error."""
    code = _CODES.get(error["type"], FieldErrorCode.BAD_FORMAT)
    return FieldIssue(code.value, field_path(error["loc"]), error["msg"])


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate ``data`` into ``model``, or raise ``ValidationFailed`` naming every field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed([field_issue(e) for e in exc.errors()]) from exc
