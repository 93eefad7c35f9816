"""The body of an export request is derived from its kind's filters: a new export type with
filters of the kinds of values filters already hold needs no code in the application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from export_resend.application.errors import ValidationFailed
from export_resend.application.request_export import (
    COMMANDS,
    ExportCommand,
    command_fields,
    derived_command,
)
from export_resend.domain.caller import ClientType
from export_resend.domain.export_types import KINDS, ExportKind, ExportType
from export_resend.domain.records import BalanceAccountType, FundingTransferStatus, SupplierPayout


@dataclass(frozen=True, slots=True)
class RefundFilters:
    """The filters of an export type that does not exist (yet)."""

    statuses: frozenset[FundingTransferStatus] = frozenset()
    merchant_ids: frozenset[str] = frozenset()
    refunded_at_from: datetime | None = None
    refunded_at_to: datetime | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    account_type: BalanceAccountType | None = None


REFUNDS = ExportKind(
    ExportType.SUPPLIER_PAYOUTS,  # a new type would be a member of its own
    "refunds",
    "refunds",
    SupplierPayout,
    RefundFilters,  # type: ignore[arg-type]  # ExportFilters names the shipped filters
    frozenset({ClientType.OPERATOR}),
    "refunds",
)


def test_a_kind_without_filters_takes_the_cc_list_only() -> None:
    assert derived_command(KINDS[ExportType.SUPPLIER_PAYOUTS]) is ExportCommand
    assert command_fields(ExportType.MARKETPLACE_PAYOUTS) == {"cc"}


def test_every_shipped_type_has_the_fields_of_its_filters_in_camel_case() -> None:
    assert command_fields(ExportType.TRANSACTION_EVENTS) == {
        "cc",
        "statuses",
        "amountMin",
        "amountMax",
        "updatedAtFrom",
        "updatedAtTo",
    }
    assert COMMANDS[ExportType.FUNDING_TRANSFERS].__name__ == "FundingTransfersExportCommand"


def test_a_new_kind_gets_a_command_from_its_filters_alone() -> None:
    command = derived_command(REFUNDS)
    built = command.model_validate(
        {
            "cc": ["a@x.io"],
            "statuses": ["COMPLETED"],
            "merchantIds": ["m-1"],
            "refundedAtFrom": "2026-01-01T01:00:00+01:00",
            "amountMin": "1.50",
            "accountType": "SUPPLIER",
        }
    )
    assert command.__name__ == "RefundsExportCommand"
    assert built.cc == ("a@x.io",)
    filters: object = built.filters()
    assert filters == RefundFilters(
        statuses=frozenset({FundingTransferStatus.COMPLETED}),
        merchant_ids=frozenset({"m-1"}),
        refunded_at_from=datetime(2026, 1, 1, tzinfo=UTC),
        amount_min=Decimal("1.50"),
        account_type=BalanceAccountType.SUPPLIER,
    )


def test_a_new_kinds_bounds_are_checked_and_its_values_validated() -> None:
    command = derived_command(REFUNDS)
    with pytest.raises(ValidationFailed) as failed:
        command.model_validate(
            {
                "refundedAtFrom": "2026-02-01T00:00:00Z",
                "refundedAtTo": "2026-01-01T00:00:00Z",
                "amountMin": 2,
                "amountMax": 1,
            }
        )
    assert [(e.code, e.field) for e in failed.value.errors] == [
        ("F-E-012", "refundedAtTo"),
        ("F-E-012", "amountMax"),
    ]
    with pytest.raises(ValidationFailed) as refused:
        command.model_validate({"statuses": ["LOST"], "merchantIds": ["a\x00b"]})
    assert [(e.code, e.field) for e in refused.value.errors] == [
        ("F-E-008", "statuses[0]"),
        ("F-E-012", "merchantIds[0]"),
    ]


def test_a_filter_of_a_kind_of_value_no_filter_held_is_refused_when_derived() -> None:
    @dataclass(frozen=True)
    class Odd:
        count: int | None = None

    kind = ExportKind(
        ExportType.SUPPLIER_PAYOUTS,
        "odd",
        "odd",
        SupplierPayout,
        Odd,  # type: ignore[arg-type]
        frozenset(),
        "odd",
    )
    with pytest.raises(TypeError, match="_wire_type"):
        derived_command(kind)
