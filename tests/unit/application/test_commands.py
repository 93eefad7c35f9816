"""A command built by a host from its own data raises the HTTP API's ``ValidationFailed``,
with the same field errors, however it is built."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from export_resend.application.create_api_key import CreateApiKeyCommand
from export_resend.application.errors import FieldIssue, ValidationFailed
from export_resend.application.list_exports import ListExportsCommand
from export_resend.application.request_export import (
    ExportCommand,
    FundingTransfersExportCommand,
    TransactionEventsExportCommand,
)
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.application.validation import Command, validate
from export_resend.domain.records import TransactionEventFilters

EXPORT_ID = uuid4()
JAN, FEB = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
FIVE = Decimal("5")
OLIVIA = {"tenant_id": "acme", "user_id": "olivia", "email": "olivia@acme.example.com"}

# (command, keywords as a host passes them, the body as the API reads it, the field errors)
CASES: list[tuple[type[Command], dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = [
    (
        ResendExportEmailCommand,
        {"export_id": EXPORT_ID, "cc": ["not an address"]},
        {"exportId": str(EXPORT_ID), "cc": ["not an address"]},
        [("F-E-012", "cc[0]")],
    ),
    (
        ResendExportEmailCommand,
        {"export_id": EXPORT_ID, "cc": ["a@x.io", "Boss <boss@x.io>", "b@x.io\r\nBcc: c@x.io"]},
        {"exportId": str(EXPORT_ID), "cc": ["a@x.io", "Boss <boss@x.io>", "b@x.io\r\nBcc: c@x.io"]},
        [("F-E-012", "cc[1]"), ("F-E-012", "cc[2]")],
    ),
    (
        ResendExportEmailCommand,
        {"cc": [f"a{i}@x.io" for i in range(21)]},
        {"cc": [f"a{i}@x.io" for i in range(21)]},
        [("F-E-001", "exportId"), ("F-E-010", "cc")],
    ),
    (ExportCommand, {"cc": "a@x.io"}, {"cc": "a@x.io"}, [("F-E-012", "cc")]),
    (
        TransactionEventsExportCommand,
        {"statuses": ["SETTLED"], "amount_min": "ten"},
        {"statuses": ["SETTLED"], "amountMin": "ten"},
        [("F-E-008", "statuses[0]"), ("F-E-012", "amountMin")],
    ),
    (
        TransactionEventsExportCommand,
        {"amount_min": 10, "amount_max": 5},
        {"amountMin": 10, "amountMax": 5},
        [("F-E-012", "amountMax")],
    ),
    (
        FundingTransfersExportCommand,
        {"created_at_from": FEB, "created_at_to": JAN},
        {"createdAtFrom": FEB.isoformat(), "createdAtTo": JAN.isoformat()},
        [("F-E-012", "createdAtTo")],
    ),
    (
        FundingTransfersExportCommand,
        {"created_at_from": datetime(2026, 1, 1), "supplier_ids": ["a", ""]},
        {"createdAtFrom": "2026-01-01T00:00:00", "supplierIds": ["a", ""]},
        [("F-E-012", "createdAtFrom"), ("F-E-012", "supplierIds[1]")],
    ),
    (
        ListExportsCommand,
        {"type": "PAYROLL", "size": 0},
        {"type": "PAYROLL", "size": "0"},
        [("F-E-008", "type"), ("F-E-012", "size")],
    ),
    (
        CreateApiKeyCommand,
        {**OLIVIA, "tenant_id": "", "client_type": "OPERATOR"},
        {**OLIVIA, "tenant_id": "", "client_type": "OPERATOR"},
        [("F-E-012", "tenant_id")],
    ),
    (
        CreateApiKeyCommand,
        {**OLIVIA, "client_type": "SUPPLIER"},
        {**OLIVIA, "client_type": "SUPPLIER"},
        [("F-E-012", "body")],
    ),
]
IDS = [f"{model.__name__}-{'+'.join(f for _, f in issues)}" for model, _, _, issues in CASES]


def _issues(errors: tuple[FieldIssue, ...]) -> list[tuple[str, str]]:
    return [(issue.code, issue.field) for issue in errors]


@pytest.mark.parametrize(("model", "keywords", "body", "expected"), CASES, ids=IDS)
def test_building_a_command_raises_the_field_errors_the_api_answers(
    model: type[Command],
    keywords: dict[str, Any],
    body: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    with pytest.raises(ValidationFailed) as built:
        model(**keywords)
    with pytest.raises(ValidationFailed) as answered:
        validate(model, body)  # what the HTTP API does with a request's body
    assert _issues(built.value.errors) == expected
    assert built.value.errors == answered.value.errors


@pytest.mark.parametrize(("model", "keywords", "body", "expected"), CASES, ids=IDS)
def test_every_way_of_validating_a_command_raises_the_same(
    model: type[Command],
    keywords: dict[str, Any],
    body: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    with pytest.raises(ValidationFailed) as from_keywords:
        model(**keywords)
    with pytest.raises(ValidationFailed) as from_python:
        model.model_validate(keywords)
    with pytest.raises(ValidationFailed) as from_json:
        model.model_validate_json(json.dumps(body))
    assert from_python.value.errors == from_keywords.value.errors
    assert _issues(from_json.value.errors) == expected


def test_a_command_validated_from_strings_raises_the_same() -> None:
    query = {"type": "PAYROLL", "page": "+5"}  # as a query string gives them
    with pytest.raises(ValidationFailed) as from_strings:
        ListExportsCommand.model_validate_strings(query)
    with pytest.raises(ValidationFailed) as answered:
        validate(ListExportsCommand, query)
    assert _issues(from_strings.value.errors) == [("F-E-008", "type"), ("F-E-012", "page")]
    assert from_strings.value.errors == answered.value.errors


def test_a_command_built_right_is_the_command() -> None:
    command = ResendExportEmailCommand(export_id=EXPORT_ID, cc=("A@x.io",))
    assert command.cc == ("A@x.io",)
    assert ResendExportEmailCommand.model_validate({"exportId": str(EXPORT_ID)}).cc is None
    bounded = TransactionEventsExportCommand.model_validate({"amount_min": FIVE, "amountMax": 5})
    assert bounded.filters() == TransactionEventFilters(amount_min=FIVE, amount_max=FIVE)
    assert ListExportsCommand.model_validate_strings({"page": "2"}).page == 2


def test_json_that_is_not_json_names_the_body() -> None:
    with pytest.raises(ValidationFailed) as failed:
        ResendExportEmailCommand.model_validate_json("{")
    assert _issues(failed.value.errors) == [("F-E-012", "body")]
