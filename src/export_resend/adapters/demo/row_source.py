"""Made-up rows of a marketplace's payments, the same every time for the same arguments."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from export_resend.domain.ports import RowSource
from export_resend.domain.records import (
    BalanceAccountType,
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    FundingTransferStatus,
    MarketplacePayout,
    MarketplacePayoutStatus,
    RelatedEntityType,
    SupplierPayout,
    SupplierPayoutStatus,
    TransactionEvent,
    TransactionEventFilters,
    TransactionEventStatus,
)

_T = TypeVar("_T")

PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
"""The end of the period the demo's rows fall in; it spans ``PERIOD`` before it."""
PERIOD = timedelta(days=90)

SUPPLIERS = (
    ("supplier-sam", "Sam's Supplies", "BA-SUP-0001"),
    ("supplier-acme", "Acme Industrie", "BA-SUP-0002"),
    ("supplier-bolt", "Bolt & Fils", "BA-SUP-0003"),
    ("supplier-delta", "Delta Fournitures", "BA-SUP-0004"),
    ("supplier-orion", "Orion Outillage", "BA-SUP-0005"),
)
"""The demo's suppliers: id, name and balance account. ``supplier-sam`` is the demo
SUPPLIER user's."""

MARKETPLACE_BALANCE_ACCOUNT = "BA-MKT-0001"
CURRENCY = "EUR"

_DAY = 86_400
_END = int(PERIOD_END.timestamp())
_START = _END - int(PERIOD.total_seconds())
# a transaction's lifecycle takes at most this long, and a payout's period and settlement
# twice that, so that every date stays within the period
_LONGEST_TAIL = 7 * _DAY
# candidates between two hand-backs to the event loop, which a large export would hog
_YIELD_EVERY = 1024

_CUSTOMER_ACCOUNTS = (
    "Agence Lyon",
    "Usine Clermont",
    "Paris Rive Gauche",
    "Entrepôt Lille",
    "Atelier Nantes",
    "Dépôt Marseille",
)
_CARD_METHODS = ("Credit card", "Purchase card")
_CARD_NETWORKS = ("Visa", "Mastercard")

_PAYOUT_FAILURES = (
    "Bank account closed; payout returned (AC04)",
    "-Rejected by the receiving bank (MS03)",
    "Beneficiary name does not match the account holder",
)
_TRANSFER_FAILURES = (
    "Insufficient balance; retry at the next payout",
    "=Daily transfer limit exceeded",
    "Balance account inactive",
)


def _weighted(options: Iterable[tuple[_T, int]]) -> tuple[_T, ...]:
    return tuple(value for value, weight in options for _ in range(weight))


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _euros(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_Step = tuple[TransactionEventStatus, int, int]
"""A status a payment reaches, at least so many seconds after the previous one, and up to
so many more."""

_S = TransactionEventStatus
_CARD_START: tuple[_Step, ...] = (
    (_S.INIT_PAYMENT, 0, 0),
    (_S.CARD_REGISTERED, 5, 55),
    (_S.WAITING_AUTHORIZATION, 1, 9),
)
_CARD_PAID = (*_CARD_START, (_S.AUTHORIZED, 2, 28), (_S.PAID, 60, 7_200))
_CARD_REFUND: tuple[_Step, ...] = (*_CARD_PAID, (_S.WAITING_REFUND, _DAY, _DAY))
_SEPA_PAID: tuple[_Step, ...] = (
    (_S.INIT_PAYMENT, 0, 0),
    (_S.WAITING_PAYMENT, 5, 55),
    (_S.PAID, _DAY, 2 * _DAY),
)
_SEPA_REFUND = (*_SEPA_PAID, (_S.WAITING_BANK_WIRE_REFUND, _DAY, _DAY))
_CARD_LIFECYCLES = _weighted(
    [
        (_CARD_PAID, 12),
        ((*_CARD_START, (_S.REFUSED, 2, 28)), 2),
        ((*_CARD_REFUND, (_S.REFUNDED, 3_600, _DAY)), 2),
        ((*_CARD_REFUND, (_S.PARTIALLY_REFUNDED, 3_600, _DAY)), 2),
        ((*_CARD_REFUND, (_S.REFUND_FAILED, 3_600, _DAY)), 1),
    ]
)
_SEPA_LIFECYCLES = _weighted(
    [
        (_SEPA_PAID, 8),
        ((*_SEPA_REFUND, (_S.REFUNDED, _DAY, _DAY)), 1),
        ((*_SEPA_REFUND, (_S.PARTIALLY_REFUNDED, _DAY, _DAY)), 1),
        ((*_SEPA_REFUND, (_S.REFUND_FAILED, _DAY, _DAY)), 1),
    ]
)
_REFUND_STATUSES = frozenset(
    {
        _S.WAITING_REFUND,
        _S.WAITING_BANK_WIRE_REFUND,
        _S.REFUNDED,
        _S.PARTIALLY_REFUNDED,
        _S.REFUND_FAILED,
    }
)

_SUPPLIER_PAYOUT_STATUSES = _weighted(
    [
        (SupplierPayoutStatus.SETTLED, 10),
        (SupplierPayoutStatus.PENDING, 3),
        (SupplierPayoutStatus.COMPUTED, 2),
        (SupplierPayoutStatus.SKIPPED, 1),
        (SupplierPayoutStatus.FAILED, 1),
        (SupplierPayoutStatus.INSUFFICIENT_FUNDS, 1),
    ]
)
_MARKETPLACE_PAYOUT_STATUSES = _weighted(
    [
        (MarketplacePayoutStatus.SETTLED, 10),
        (MarketplacePayoutStatus.PENDING, 3),
        (MarketplacePayoutStatus.COMPUTED, 2),
        (MarketplacePayoutStatus.FAILED, 1),
        (MarketplacePayoutStatus.INSUFFICIENT_FUNDS, 1),
    ]
)
_TRANSFER_STATUSES = _weighted(
    [
        (FundingTransferStatus.COMPLETED, 8),
        (FundingTransferStatus.PENDING, 2),
        (FundingTransferStatus.FAILED, 1),
    ]
)


class DemoRowSource(RowSource):
    """Deterministic made-up rows: ``rows`` candidates per export, of which those within
    the scope and matching the filters are yielded.

    The rows depend only on ``seed``, the export type and the scope's tenant, never on the
    clock: they fall in the 90 days before ``PERIOD_END``, and a supplier's export holds
    exactly its own rows of its tenant's export. Marketplace payouts involve no supplier:
    every scope of the tenant gets them all.
    """

    def __init__(self, *, rows: int = 1000, seed: int = 0) -> None:
        if rows < 0:
            raise ValueError("rows must not be negative")
        self._rows = rows
        self._seed = seed

    def _random(self, export_type: str, scope: ExportScope) -> random.Random:
        # made-up data that must come out the same every time: no secret in it
        return random.Random(f"{self._seed}/{export_type}/{scope.tenant_id}")  # noqa: S311

    def _offsets(self, draw: Callable[[], float], tail: int) -> Callable[[int], int]:
        """The seconds after the period's start of each candidate's base time: increasing
        with the candidate's index, with ``tail`` seconds left before the period's end."""
        span, rows = _END - _START - tail, self._rows

        def offset(index: int) -> int:
            return (index * span + int(draw() * span)) // rows

        return offset

    async def transaction_events(
        self, scope: ExportScope, filters: TransactionEventFilters
    ) -> AsyncIterator[TransactionEvent]:
        rng = self._random("transaction_events", scope)
        draw = rng.random
        rows, wanted, matches = self._rows, scope.supplier_id, filters.matches
        unfiltered = filters == TransactionEventFilters()
        offset = self._offsets(draw, _LONGEST_TAIL)
        index = transactions = 0
        while index < rows:
            transactions += 1
            transaction_id = f"txn_{rng.getrandbits(48):012x}"
            order = f"CO-2026-{transactions:06d}"
            supplier_id = SUPPLIERS[int(draw() * len(SUPPLIERS))][0]
            customer = _CUSTOMER_ACCOUNTS[int(draw() * len(_CUSTOMER_ACCOUNTS))]
            psp_reference = str(rng.randrange(10**15, 10**16))
            if draw() < 0.25:
                method, network = "SEPA transfer", "SEPA"
                lifecycle = _SEPA_LIFECYCLES[int(draw() * len(_SEPA_LIFECYCLES))]
            else:
                method = _CARD_METHODS[int(draw() * len(_CARD_METHODS))]
                network = _CARD_NETWORKS[int(draw() * len(_CARD_NETWORKS))]
                lifecycle = _CARD_LIFECYCLES[int(draw() * len(_CARD_LIFECYCLES))]
            cents = 500 + int(draw() * 2_500_000)
            paid = _euros(cents)
            refunded = _euros(
                -int(cents * (0.1 + 0.8 * draw()))
                if lifecycle[-1][0] is _S.PARTIALLY_REFUNDED
                else -cents
            )
            moment = _START + offset(index)
            for status, after, spread in lifecycle:
                if index == rows:
                    break
                moment += after + int(draw() * spread)
                index += 1
                if not index % _YIELD_EVERY:
                    await asyncio.sleep(0)
                if wanted is not None and supplier_id != wanted:
                    continue
                event = TransactionEvent(
                    event_id=f"evt_{index:08d}",
                    transaction_id=transaction_id,
                    commercial_order_reference=order,
                    supplier_id=supplier_id,
                    customer_account=customer,
                    payment_method=method,
                    payment_network=network,
                    psp_reference=psp_reference,
                    status=status,
                    amount=refunded if status in _REFUND_STATUSES else paid,
                    currency=CURRENCY,
                    updated_at=_moment(moment),
                )
                if unfiltered or matches(event):
                    yield event

    async def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        rng = self._random("supplier_payouts", scope)
        draw = rng.random
        wanted = scope.supplier_id
        offset = self._offsets(draw, 2 * _LONGEST_TAIL)
        for index in range(self._rows):
            if not (index + 1) % _YIELD_EVERY:
                await asyncio.sleep(0)
            supplier_id, supplier_name, _ = SUPPLIERS[int(draw() * len(SUPPLIERS))]
            status = _SUPPLIER_PAYOUT_STATUSES[int(draw() * len(_SUPPLIER_PAYOUT_STATUSES))]
            skipped = status is SupplierPayoutStatus.SKIPPED
            cents = int(draw() * 5_000) if skipped else 10_000 + int(draw() * 5_000_000)
            orders = int(draw() * 3) if skipped else 1 + int(draw() * 80)
            period_end = _START + 7 * _DAY + offset(index) // _DAY * _DAY
            computed_at = period_end + 7_200 + int(draw() * 3_600)
            settled_at = computed_at + _DAY + int(draw() * 2 * _DAY)
            reason = _PAYOUT_FAILURES[int(draw() * len(_PAYOUT_FAILURES))]
            payout_id = f"spo_{rng.getrandbits(48):012x}"
            if wanted is not None and supplier_id != wanted:
                continue
            yield SupplierPayout(
                payout_id=payout_id,
                supplier_id=supplier_id,
                supplier_name=supplier_name,
                status=status,
                amount=_euros(cents),
                currency=CURRENCY,
                order_count=orders,
                period_start=_moment(period_end - 7 * _DAY),
                period_end=_moment(period_end),
                computed_at=_moment(computed_at),
                settled_at=_moment(settled_at) if status is SupplierPayoutStatus.SETTLED else None,
                failure_reason=reason if status is SupplierPayoutStatus.FAILED else None,
            )

    async def funding_transfers(
        self, scope: ExportScope, filters: FundingTransferFilters
    ) -> AsyncIterator[FundingTransfer]:
        rng = self._random("funding_transfers", scope)
        draw = rng.random
        wanted, matches = scope.supplier_id, filters.matches
        unfiltered = filters == FundingTransferFilters()
        offset = self._offsets(draw, 0)
        marketplace = BalanceAccountType.MARKETPLACE, MARKETPLACE_BALANCE_ACCOUNT
        for index in range(self._rows):
            if not (index + 1) % _YIELD_EVERY:
                await asyncio.sleep(0)
            supplier_id, _, supplier_account = SUPPLIERS[int(draw() * len(SUPPLIERS))]
            supplier = BalanceAccountType.SUPPLIER, supplier_account
            status = _TRANSFER_STATUSES[int(draw() * len(_TRANSFER_STATUSES))]
            created_at = _START + offset(index)
            reason = _TRANSFER_FAILURES[int(draw() * len(_TRANSFER_FAILURES))]
            entity_id = rng.getrandbits(48)
            if draw() < 0.8:
                cents = 10_000 + int(draw() * 5_000_000)
                related, entity = RelatedEntityType.PAYOUT, f"spo_{entity_id:012x}"
                (source_type, source_id), (target_type, target_id) = marketplace, supplier
            else:
                cents = 500 + int(draw() * 500_000)
                related, entity = RelatedEntityType.REFUND, f"rfd_{entity_id:012x}"
                (source_type, source_id), (target_type, target_id) = supplier, marketplace
            if wanted is not None and supplier_id != wanted:
                continue
            transfer = FundingTransfer(
                transfer_id=f"ft_{index + 1:08d}",
                created_at=_moment(created_at),
                status=status,
                amount=_euros(cents),
                currency=CURRENCY,
                source_balance_account_type=source_type,
                source_balance_account_id=source_id,
                target_balance_account_type=target_type,
                target_balance_account_id=target_id,
                supplier_id=supplier_id,
                related_entity_type=related,
                related_entity_id=entity,
                failure_reason=reason if status is FundingTransferStatus.FAILED else None,
            )
            if unfiltered or matches(transfer):
                yield transfer

    async def marketplace_payouts(self, scope: ExportScope) -> AsyncIterator[MarketplacePayout]:
        rng = self._random("marketplace_payouts", scope)
        draw = rng.random
        offset = self._offsets(draw, 2 * _LONGEST_TAIL)
        for index in range(self._rows):
            if not (index + 1) % _YIELD_EVERY:
                await asyncio.sleep(0)
            status = _MARKETPLACE_PAYOUT_STATUSES[int(draw() * len(_MARKETPLACE_PAYOUT_STATUSES))]
            period_end = _START + 7 * _DAY + offset(index) // _DAY * _DAY
            computed_at = period_end + 7_200 + int(draw() * 3_600)
            settled_at = computed_at + _DAY + int(draw() * 2 * _DAY)
            reason = _PAYOUT_FAILURES[int(draw() * len(_PAYOUT_FAILURES))]
            yield MarketplacePayout(
                payout_id=f"mpo_{rng.getrandbits(48):012x}",
                status=status,
                amount=_euros(5_000 + int(draw() * 2_000_000)),
                currency=CURRENCY,
                order_count=1 + int(draw() * 400),
                period_start=_moment(period_end - 7 * _DAY),
                period_end=_moment(period_end),
                computed_at=_moment(computed_at),
                settled_at=_moment(settled_at)
                if status is MarketplacePayoutStatus.SETTLED
                else None,
                failure_reason=reason if status is MarketplacePayoutStatus.FAILED else None,
            )
