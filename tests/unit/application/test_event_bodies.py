"""Providers' JSON is read strictly, and what is wrong with it is said without quoting it."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from export_resend.application.event_bodies import describe, load_json_object


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'{"a": 1, "a": 2}', "twice"),
        (b'{"a": {"b": 1, "b": 1}}', "twice"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b"[1]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"a": "\xff"}', "not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        (b'{"a": ', "not JSON (line 1, column 7)"),
        (b'{"a":' * 100_000, "nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_anything_but_one_plain_json_object_is_refused(text: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        load_json_object(text)


def test_an_object_comes_back_as_a_dict() -> None:
    assert load_json_object('{"type": "email.delivered", "n": [1, 2.5]}') == {
        "type": "email.delivered",
        "n": [1, 2.5],
    }


class _Recipient(BaseModel):
    model_config = ConfigDict(strict=True)
    address: str
    tries: int


class _Event(BaseModel):
    model_config = ConfigDict(strict=True)
    recipients: list[_Recipient]


def test_a_description_names_fields_and_kinds_of_error_never_values() -> None:
    with pytest.raises(ValidationError) as error:
        _Event.model_validate(
            {"recipients": [{"address": 1, "tries": "secret@example.com"}, {}, {}]}
        )
    described = describe(error.value, "Message")
    assert described == (
        "Message.recipients[0].address: string_type; Message.recipients[0].tries: int_type;"
        " Message.recipients[1].address: missing (and 3 more)"
    )
    assert "secret" not in described
