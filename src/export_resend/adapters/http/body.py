"""Read a request's JSON body: bounded in size, typed, strict about what JSON is."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from export_resend.adapters.http.problems import (
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32
"""The deepest nesting of arrays and objects a body may have: far more than any request
needs, and far from the recursion limit of anything that later walks the value."""


def _is_json(content_type: str) -> bool:
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return False
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    return all(c in ("utf-8", "utf8") for c in charsets)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects, found without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            pending.extend(
                (child, depth) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        # compared as text first: int() reads no more than 4,300 digits (CVE-2020-10735)
        digits = declared.lstrip("0")
        if len(digits) > len(str(limit)) or int(digits or "0") > limit:
            raise PayloadTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(limit)
    return bytes(body)


async def read_json_object(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when there is no body or it is ``null``.

    Raises ``PayloadTooLarge`` (413), ``UnsupportedMediaType`` (415) for a body that is not
    declared as UTF-8 JSON, ``InvalidJson`` (400) for anything ``json`` cannot read or for a
    duplicated key, and ``ValidationFailed`` (400) for JSON that is not an object or that
    nests deeper than ``MAX_DEPTH``.
    """
    body = await read_body(request, limit)
    if not body.strip():
        return None
    content_type = request.headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        raise UnsupportedMediaType(content_type)
    try:
        value = json.loads(
            body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
        # JSON may escape a lone surrogate (\ud800) that no UTF-8 text can hold: refuse it now,
        # before anything is done, rather than fail to write the answer afterwards.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidJson("the body holds a lone UTF-16 surrogate, which is not text") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from exc
    if _depth(value) > MAX_DEPTH:
        raise ValidationFailed(
            [
                FieldIssue(
                    FieldErrorCode.SIZE_LIMIT_EXCEEDED.value,
                    "body",
                    f"nests arrays and objects deeper than {MAX_DEPTH} levels",
                )
            ]
        )
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed(
            [FieldIssue(FieldErrorCode.BAD_FORMAT.value, "body", "must be a JSON object")]
        )
    return value
