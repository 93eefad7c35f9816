"""CC addresses: bare, valid, header-safe; every refusal names the entry at fault."""

from __future__ import annotations

from uuid import uuid4

import pytest

from export_resend.application.errors import ValidationFailed
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.application.validation import validate


def _errors(cc: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as raised:
        validate(ResendExportEmailCommand, {"exportId": uuid4(), "cc": cc})
    return [(e.code, e.field) for e in raised.value.errors]


@pytest.mark.parametrize(
    "bad",
    [
        "Boss <boss@example.com>",
        "<boss@example.com>",
        '"Boss" boss@example.com',
        "boss@example.com\r\nBcc: victim@example.com",
        "boss@example.com\nBcc: victim@example.com",
        "boss@exam\0ple.com",
        "=?utf-8?q?boss?=@example.com",
        "boss@example.com, other@example.com",
        "not-an-address",
        "@example.com",
        "boss@",
        "boss@localhost",
        "",
        "bôss@example.com",
    ],
)
def test_anything_but_a_bare_valid_address_is_refused_at_its_index(bad: str) -> None:
    assert _errors(["ok@example.com", bad]) == [("F-E-012", "cc[1]")]


def test_each_bad_entry_is_reported() -> None:
    assert _errors(["x", "ok@example.com", "y <y@example.com>"]) == [
        ("F-E-012", "cc[0]"),
        ("F-E-012", "cc[2]"),
    ]


def test_more_than_twenty_entries_is_a_size_error_on_the_list() -> None:
    assert _errors([f"p{i}@example.com" for i in range(21)]) == [("F-E-010", "cc")]


@pytest.mark.parametrize("bad", ["boss@example.com", {"to": "x@example.com"}, 3])
def test_cc_must_be_a_list(bad: object) -> None:
    assert _errors(bad) == [("F-E-012", "cc")]


@pytest.mark.parametrize("bad", [3, None, ["a@example.com"]])
def test_entries_must_be_strings(bad: object) -> None:
    assert _errors([bad]) == [("F-E-012", "cc[0]")]


def test_the_message_says_why() -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate(ResendExportEmailCommand, {"exportId": uuid4(), "cc": ["a\r\nb@example.com"]})
    assert raised.value.errors[0].message == "must not contain a carriage return"


def test_addresses_are_kept_in_normal_ascii_form() -> None:
    command = validate(
        ResendExportEmailCommand,
        {"exportId": uuid4(), "cc": ["Finance@EXAMPLE.com", "ops@bücher.example"]},
    )
    assert command.cc == ("Finance@example.com", "ops@xn--bcher-kva.example")


def test_twenty_entries_are_accepted() -> None:
    cc = [f"p{i}@example.com" for i in range(20)]
    command = validate(ResendExportEmailCommand, {"exportId": uuid4(), "cc": cc})
    assert command.cc == tuple(cc)


@pytest.mark.parametrize(("given", "expected"), [(None, None), ([], ())])
def test_null_keeps_the_original_and_empty_means_none(
    given: list[str] | None, expected: tuple[str, ...] | None
) -> None:
    command = validate(ResendExportEmailCommand, {"exportId": uuid4(), "cc": given})
    assert command.cc == expected
