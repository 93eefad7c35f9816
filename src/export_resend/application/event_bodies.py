"""Reading the JSON of a provider's notification strictly, and saying what was wrong with it
without repeating it (its values hold addresses)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from export_resend.application.validation import field_path


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key is given twice")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json_object(text: str | bytes) -> dict[str, Any]:
    """The JSON object ``text`` holds (UTF-8 if bytes). ``ValueError`` for anything else,
    including a key given twice in any object (two readers could take different ones) and
    ``NaN`` or ``Infinity``; its message never quotes the text."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        value = json.loads(decoded, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def describe(error: ValidationError, prefix: str = "") -> str:
    """The fields ``error`` is about and what was wrong with each (``data.recipient:
    missing``), at most three of them, never their values. A ``value_error`` is told in our
    own validator's words, which never quote a value either."""
    issues = [
        f"{field_path((*((prefix,) if prefix else ()), *e['loc']))}: "
        + (e["msg"].removeprefix("Value error, ") if e["type"] == "value_error" else e["type"])
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
    return "; ".join(issues[:3]) + more
