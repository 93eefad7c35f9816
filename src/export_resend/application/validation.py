"""Turn pydantic's validation errors into the platform's field errors, and the base of every
command, which raises them when it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

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


def field_issue(error: ErrorDetails, aliases: Mapping[str, str] | None = None) -> FieldIssue:
    """One pydantic error as a platform field error; ``aliases`` renames a top-level field
    given by its Python name (``amount_min``) to the name the API gives it (``amountMin``)."""
    code = _CODES.get(error["type"], FieldErrorCode.BAD_FORMAT)
    loc = error["loc"]
    if aliases and loc and isinstance(loc[0], str) and loc[0] in aliases:
        loc = (aliases[loc[0]], *loc[1:])
    return FieldIssue(code.value, field_path(loc), error["msg"])


def validation_failed(
    error: ValidationError, aliases: Mapping[str, str] | None = None
) -> ValidationFailed:
    """Every error of ``error`` as a platform field error (``aliases``: see ``field_issue``)."""
    return ValidationFailed([field_issue(e, aliases) for e in error.errors()])


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate ``data`` into ``model``, or raise ``ValidationFailed`` naming every field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


class Command(BaseModel):
    """The input of a use case, checked when it is built.

    However it is built (keywords, ``model_validate``, ``model_validate_json``,
    ``model_validate_strings``), invalid data raises ``ValidationFailed`` with the field
    errors the HTTP API answers (``cc[0]``, ``amountMax``), never pydantic's
    ``ValidationError``: a field given by its Python name is named as the API names it.
    """

    @classmethod
    def _failed(cls, error: ValidationError) -> ValidationFailed:
        aliases = {name: field.alias for name, field in cls.model_fields.items() if field.alias}
        return validation_failed(error, aliases)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise self._failed(exc) from exc

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise cls._failed(exc) from exc

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise cls._failed(exc) from exc

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:
        try:
            return super().model_validate_strings(obj, **options)
        except ValidationError as exc:
            raise cls._failed(exc) from exc
