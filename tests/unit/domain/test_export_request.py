"""Requesting an export, by the rules: who may request what, a supplier's scope, downloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.errors import ExportExpired, ExportNotFound, ExportTypeNotAllowed
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.records import (
    BalanceAccountType,
    ExportScope,
    FundingTransferFilters,
    TransactionEventFilters,
    TransactionEventStatus,
)
from tests.factories import NOW

OPERATOR = Caller("olivia", "olivia@acme.example.com", "acme", ClientType.OPERATOR)
SUPPLIER = Caller("sam", "sam@acme.example.com", "acme", ClientType.SUPPLIER, "supplier-sam")
ACCOUNT = Caller("anna", "anna@acme.example.com", "acme", ClientType.ACCOUNT)
ALLOWED = {  # SPEC §2
    (ClientType.OPERATOR, ExportType.TRANSACTION_EVENTS),
    (ClientType.OPERATOR, ExportType.SUPPLIER_PAYOUTS),
    (ClientType.OPERATOR, ExportType.FUNDING_TRANSFERS),
    (ClientType.OPERATOR, ExportType.MARKETPLACE_PAYOUTS),
    (ClientType.SUPPLIER, ExportType.TRANSACTION_EVENTS),
    (ClientType.SUPPLIER, ExportType.FUNDING_TRANSFERS),
}


def _request(
    caller: Caller,
    export_type: ExportType = ExportType.FUNDING_TRANSFERS,
    cc: tuple[str, ...] = (),
    filters: TransactionEventFilters | FundingTransferFilters | None = None,
) -> Export:
    export, _ = Export.request(
        export_id=uuid4(), caller=caller, export_type=export_type, cc=cc, filters=filters, now=NOW
    )
    return export


@pytest.mark.parametrize("export_type", list(ExportType))
@pytest.mark.parametrize("caller", [OPERATOR, SUPPLIER, ACCOUNT], ids=lambda c: c.user_id)
def test_a_client_type_may_request_exactly_the_types_the_spec_lists(
    caller: Caller, export_type: ExportType
) -> None:
    if (caller.client_type, export_type) in ALLOWED:
        export = _request(caller, export_type)
        assert (export.status, export.type, export.owner_id) == (
            ExportStatus.PENDING,
            export_type,
            caller.user_id,
        )
    else:
        with pytest.raises(ExportTypeNotAllowed) as refused:
            _request(caller, export_type)
        assert (refused.value.client_type, refused.value.export_type) == (
            caller.client_type,
            export_type,
        )


def test_a_supplier_without_a_supplier_id_may_request_nothing() -> None:
    unscoped = Caller("sue", "sue@acme.example.com", "acme", ClientType.SUPPLIER)
    with pytest.raises(ExportTypeNotAllowed):
        _request(unscoped, ExportType.TRANSACTION_EVENTS)


def test_a_supplier_s_export_is_scoped_to_it_and_its_supplier_filter_dropped() -> None:
    filters = FundingTransferFilters(
        supplier_ids=frozenset({"supplier-acme"}),
        target_balance_account_type=BalanceAccountType.SUPPLIER,
    )
    export = _request(SUPPLIER, filters=filters)
    assert export.scope == ExportScope("acme", "supplier-sam")
    assert export.filters == FundingTransferFilters(
        target_balance_account_type=BalanceAccountType.SUPPLIER
    )


def test_an_operator_s_export_covers_the_tenant_with_the_filters_as_given() -> None:
    filters = FundingTransferFilters(supplier_ids=frozenset({"supplier-acme"}))
    export = _request(OPERATOR, filters=filters)
    assert export.scope == ExportScope("acme")
    assert export.filters == filters


def test_the_cc_is_normalised_and_the_first_email_goes_to_the_owner_and_that_list() -> None:
    export, cc = Export.request(
        export_id=uuid4(),
        caller=OPERATOR,
        export_type=ExportType.SUPPLIER_PAYOUTS,
        cc=["a@x.io", "A@x.io", "olivia@acme.example.com"],
        filters=None,
        now=NOW,
    )
    assert export.cc == ("a@x.io",)
    assert len(cc.warnings) == 2
    assert (export.recipients.to, export.recipients.cc) == (OPERATOR.email, ("a@x.io",))


def test_filters_of_another_type_are_refused() -> None:
    with pytest.raises(ValueError, match="do not apply"):
        _request(OPERATOR, ExportType.SUPPLIER_PAYOUTS, filters=TransactionEventFilters())
    with pytest.raises(ValueError, match="do not apply"):
        _request(OPERATOR, ExportType.TRANSACTION_EVENTS, filters=FundingTransferFilters())


def test_filters_with_bounds_upside_down_or_naive_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="amount"):
        TransactionEventFilters(amount_min=Decimal(10), amount_max=Decimal(5))
    with pytest.raises(ValueError, match="UTC"):
        TransactionEventFilters(updated_at_from=datetime(2026, 1, 1))
    assert TransactionEventFilters(
        statuses=frozenset({TransactionEventStatus.PAID}),
        updated_at_from=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_a_file_is_downloadable_while_ready_then_expired_at_its_end() -> None:
    file = ExportFile("f.csv", 10, 1, "ab" * 32)
    pending = _request(OPERATOR)
    ready = pending.mark_ready(file, NOW, timedelta(days=7))
    end = NOW + timedelta(days=7)

    assert ready.check_downloadable(end - timedelta(microseconds=1)) == file
    with pytest.raises(ExportExpired):
        ready.check_downloadable(end)
    with pytest.raises(ExportExpired):
        ready.expire(end).check_downloadable(end)
    with pytest.raises(ExportNotFound):
        pending.check_downloadable(NOW)
    with pytest.raises(ExportNotFound):
        pending.mark_failed("source down").check_downloadable(NOW)
