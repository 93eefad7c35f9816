"""The demo source: made-up rows that are the same every time, within scope and filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import pytest

from export_resend.adapters.demo import DemoRowSource
from export_resend.domain.records import (
    BalanceAccountType,
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    FundingTransferStatus,
    MarketplacePayout,
    MarketplacePayoutStatus,
    Record,
    RelatedEntityType,
    SupplierPayout,
    SupplierPayoutStatus,
    TransactionEvent,
    TransactionEventFilters,
    TransactionEventStatus,
)

T = TypeVar("T")

TENANT = ExportScope("demo")
SAM = ExportScope("demo", supplier_id="supplier-sam")
PERIOD_START = datetime(2026, 8, 3, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
REFUND_STATUSES = {
    TransactionEventStatus.WAITING_REFUND,
    TransactionEventStatus.WAITING_BANK_WIRE_REFUND,
    TransactionEventStatus.REFUNDED,
    TransactionEventStatus.PARTIALLY_REFUNDED,
    TransactionEventStatus.REFUND_FAILED,
}


async def collect(rows: AsyncIterator[T]) -> list[T]:
    return [row async for row in rows]


async def every_export(source: DemoRowSource, scope: ExportScope) -> list[list[Record]]:
    """The rows of each export type, without filters."""
    return [
        await collect(source.transaction_events(scope, TransactionEventFilters())),
        await collect(source.supplier_payouts(scope)),
        await collect(source.funding_transfers(scope, FundingTransferFilters())),
        await collect(source.marketplace_payouts(scope)),
    ]


async def events(
    scope: ExportScope = TENANT, filters: TransactionEventFilters | None = None
) -> list[TransactionEvent]:
    source = DemoRowSource(rows=1000)
    return await collect(source.transaction_events(scope, filters or TransactionEventFilters()))


async def transfers(
    scope: ExportScope = TENANT, filters: FundingTransferFilters | None = None
) -> list[FundingTransfer]:
    source = DemoRowSource(rows=1000)
    return await collect(source.funding_transfers(scope, filters or FundingTransferFilters()))


def dates(record: Record) -> list[datetime]:
    values = (getattr(record, field.name) for field in fields(record))
    return [value for value in values if isinstance(value, datetime)]


# -- determinism ------------------------------------------------------------------------


async def test_two_sources_with_the_same_arguments_yield_the_same_records() -> None:
    first = await every_export(DemoRowSource(rows=300, seed=7), TENANT)
    second = await every_export(DemoRowSource(rows=300, seed=7), TENANT)
    assert first == second


async def test_the_same_source_yields_the_same_records_every_time() -> None:
    source = DemoRowSource(rows=300)
    assert await every_export(source, SAM) == await every_export(source, SAM)


async def test_another_seed_yields_other_records() -> None:
    first = await every_export(DemoRowSource(rows=100, seed=1), TENANT)
    second = await every_export(DemoRowSource(rows=100, seed=2), TENANT)
    for one, other in zip(first, second, strict=True):
        assert one != other


async def test_another_tenant_gets_other_records() -> None:
    source = DemoRowSource(rows=100)
    ours = await every_export(source, TENANT)
    theirs = await every_export(source, ExportScope("other"))
    for one, other in zip(ours, theirs, strict=True):
        assert one != other


# -- row counts, scope and filters ------------------------------------------------------


@pytest.mark.parametrize("rows", [0, 1, 7, 1000])
async def test_without_filters_a_tenant_gets_as_many_rows_as_asked_of_each_type(
    rows: int,
) -> None:
    exports = await every_export(DemoRowSource(rows=rows), TENANT)
    assert [len(export) for export in exports] == [rows] * 4


def test_a_negative_row_count_is_refused() -> None:
    with pytest.raises(ValueError, match="rows"):
        DemoRowSource(rows=-1)


async def test_a_supplier_gets_exactly_its_own_rows_of_its_tenants_export() -> None:
    source = DemoRowSource(rows=1000)
    tenant = await every_export(source, TENANT)
    sam = await every_export(source, SAM)
    for tenant_rows, sam_rows in zip(tenant[:3], sam[:3], strict=True):
        assert sam_rows
        assert sam_rows == [
            row
            for row in tenant_rows
            if isinstance(row, TransactionEvent | SupplierPayout | FundingTransfer)
            and row.supplier_id == "supplier-sam"
        ]


async def test_a_supplier_scope_gets_every_marketplace_payout_which_has_no_supplier() -> None:
    source = DemoRowSource(rows=100)
    assert await collect(source.marketplace_payouts(SAM)) == await collect(
        source.marketplace_payouts(TENANT)
    )


TRANSACTION_FILTERS = [
    TransactionEventFilters(
        statuses=frozenset({TransactionEventStatus.PAID, TransactionEventStatus.REFUNDED})
    ),
    TransactionEventFilters(amount_min=Decimal("1000.00"), amount_max=Decimal("5000.00")),
    TransactionEventFilters(amount_max=Decimal("0")),
    TransactionEventFilters(
        updated_at_from=datetime(2026, 9, 1, tzinfo=UTC),
        updated_at_to=datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC),
    ),
    TransactionEventFilters(
        statuses=frozenset({TransactionEventStatus.PARTIALLY_REFUNDED}),
        amount_min=Decimal("-10000"),
        updated_at_from=datetime(2026, 10, 1, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize("scope", [TENANT, SAM], ids=["tenant", "supplier"])
@pytest.mark.parametrize("filters", TRANSACTION_FILTERS)
async def test_filtered_transaction_events_are_those_of_the_export_that_match(
    scope: ExportScope, filters: TransactionEventFilters
) -> None:
    everything = await events(scope)
    filtered = await events(scope, filters)
    assert filtered
    assert len(filtered) < len(everything)
    assert filtered == [event for event in everything if filters.matches(event)]
    assert all(scope.admits([event.supplier_id]) for event in filtered)


TRANSFER_FILTERS = [
    FundingTransferFilters(statuses=frozenset({FundingTransferStatus.FAILED})),
    FundingTransferFilters(supplier_ids=frozenset({"supplier-acme", "supplier-bolt"})),
    FundingTransferFilters(amount_min=Decimal("100.00"), amount_max=Decimal("2000.00")),
    FundingTransferFilters(source_balance_account_type=BalanceAccountType.SUPPLIER),
    FundingTransferFilters(target_balance_account_type=BalanceAccountType.SUPPLIER),
    FundingTransferFilters(
        created_at_from=datetime(2026, 8, 15, tzinfo=UTC),
        created_at_to=datetime(2026, 8, 31, tzinfo=UTC),
        statuses=frozenset({FundingTransferStatus.COMPLETED, FundingTransferStatus.PENDING}),
    ),
]


@pytest.mark.parametrize("filters", TRANSFER_FILTERS)
async def test_filtered_funding_transfers_are_those_of_the_export_that_match(
    filters: FundingTransferFilters,
) -> None:
    everything = await transfers()
    filtered = await transfers(filters=filters)
    assert filtered
    assert len(filtered) < len(everything)
    assert filtered == [transfer for transfer in everything if filters.matches(transfer)]


async def test_a_suppliers_filtered_transfers_are_its_own_that_match() -> None:
    filters = FundingTransferFilters(statuses=frozenset({FundingTransferStatus.COMPLETED}))
    filtered = await transfers(SAM, filters)
    assert filtered
    assert all(t.supplier_id == "supplier-sam" for t in filtered)
    assert all(t.status is FundingTransferStatus.COMPLETED for t in filtered)


# -- realistic values -------------------------------------------------------------------


async def test_every_status_of_each_value_set_appears_and_no_other() -> None:
    exports = await every_export(DemoRowSource(rows=1000), TENANT)
    statuses = [{row.status for row in export} for export in exports]
    assert statuses == [
        set(TransactionEventStatus),
        set(SupplierPayoutStatus),
        set(FundingTransferStatus),
        set(MarketplacePayoutStatus),
    ]


async def test_amounts_are_euros_with_two_decimals_and_dates_whole_seconds_in_the_period() -> None:
    for export in await every_export(DemoRowSource(rows=1000), TENANT):
        for row in export:
            assert row.currency == "EUR"
            assert row.amount.as_tuple().exponent == -2
            for moment in dates(row):
                assert moment.tzinfo is UTC
                assert moment.microsecond == 0
                assert PERIOD_START <= moment <= PERIOD_END


async def test_only_refund_events_have_negative_amounts() -> None:
    for event in await events():
        assert (event.amount < 0) == (event.status in REFUND_STATUSES)


async def test_payment_networks_fit_payment_methods() -> None:
    networks = {(event.payment_method, event.payment_network) for event in await events()}
    assert networks == {
        ("Credit card", "Visa"),
        ("Credit card", "Mastercard"),
        ("Purchase card", "Visa"),
        ("Purchase card", "Mastercard"),
        ("SEPA transfer", "SEPA"),
    }


async def test_the_events_of_a_transaction_move_forward_in_time_from_its_first_step() -> None:
    by_transaction: dict[str, list[TransactionEvent]] = {}
    for event in await events():
        by_transaction.setdefault(event.transaction_id, []).append(event)
    for lifecycle in by_transaction.values():
        assert lifecycle[0].status is TransactionEventStatus.INIT_PAYMENT
        moments = [event.updated_at for event in lifecycle]
        assert moments == sorted(moments)
        assert len({event.commercial_order_reference for event in lifecycle}) == 1


async def test_payouts_are_settled_and_failed_with_a_reason_only_in_those_statuses() -> None:
    source = DemoRowSource(rows=1000)
    payouts: list[SupplierPayout | MarketplacePayout] = [
        *await collect(source.supplier_payouts(TENANT)),
        *await collect(source.marketplace_payouts(TENANT)),
    ]
    for payout in payouts:
        assert (payout.settled_at is not None) == (payout.status == "SETTLED")
        assert (payout.failure_reason is not None) == (payout.status == "FAILED")
        assert payout.period_start < payout.period_end <= payout.computed_at
        assert payout.settled_at is None or payout.computed_at < payout.settled_at


async def test_transfers_go_to_a_supplier_for_payouts_and_back_for_refunds() -> None:
    for transfer in await transfers():
        if transfer.related_entity_type is RelatedEntityType.PAYOUT:
            assert transfer.source_balance_account_type is BalanceAccountType.MARKETPLACE
            assert transfer.target_balance_account_type is BalanceAccountType.SUPPLIER
        else:
            assert transfer.source_balance_account_type is BalanceAccountType.SUPPLIER
            assert transfer.target_balance_account_type is BalanceAccountType.MARKETPLACE
        assert transfer.supplier_id is not None
        assert (transfer.failure_reason is not None) == (
            transfer.status is FundingTransferStatus.FAILED
        )


async def test_the_demo_suppliers_include_sam_and_some_reasons_need_csv_escaping() -> None:
    source = DemoRowSource(rows=1000)
    suppliers = {event.supplier_id for event in await events()}
    reasons = {
        payout.failure_reason
        for payout in await collect(source.supplier_payouts(TENANT))
        if payout.failure_reason
    } | {transfer.failure_reason for transfer in await transfers() if transfer.failure_reason}
    assert "supplier-sam" in suppliers
    assert len(suppliers) >= 4
    assert any(";" in reason for reason in reasons)
    assert any(reason.startswith(("-", "=")) for reason in reasons)
