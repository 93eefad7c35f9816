"""What an export contains: one record type per export type, the platform's value sets, and
the filters a request may set.

The value sets are those of the payments platform (DJUST PAY): a filter naming any other
value is refused before an export is created. A record's fields are the CSV's columns,
in order (``docs/exports.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum


class TransactionEventStatus(StrEnum):
    """The status a payment reached at one event of its lifecycle."""

    INIT_PAYMENT = "INIT_PAYMENT"
    CARD_REGISTERED = "CARD_REGISTERED"
    WAITING_AUTHORIZATION = "WAITING_AUTHORIZATION"
    AUTHORIZED = "AUTHORIZED"
    WAITING_PAYMENT = "WAITING_PAYMENT"
    PAID = "PAID"
    REFUSED = "REFUSED"
    WAITING_REFUND = "WAITING_REFUND"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    WAITING_BANK_WIRE_REFUND = "WAITING_BANK_WIRE_REFUND"
    REFUND_FAILED = "REFUND_FAILED"


class SupplierPayoutStatus(StrEnum):
    """Where a payout to one supplier's bank account is."""

    COMPUTED = "COMPUTED"
    SKIPPED = "SKIPPED"
    PENDING = "PENDING"
    SETTLED = "SETTLED"
    FAILED = "FAILED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"


class MarketplacePayoutStatus(StrEnum):
    """Where a payout of the marketplace's commissions to its own bank account is."""

    COMPUTED = "COMPUTED"
    PENDING = "PENDING"
    SETTLED = "SETTLED"
    FAILED = "FAILED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"


class FundingTransferStatus(StrEnum):
    """Where an internal movement of funds between two balance accounts is."""

    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class BalanceAccountType(StrEnum):
    """The marketplace's account (collected funds) or a supplier's (funds allocated to it)."""

    MARKETPLACE = "MARKETPLACE"
    SUPPLIER = "SUPPLIER"


class RelatedEntityType(StrEnum):
    """The business operation a funding transfer belongs to."""

    PAYOUT = "PAYOUT"
    REFUND = "REFUND"


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """One step of one payment's lifecycle."""

    event_id: str
    transaction_id: str
    commercial_order_reference: str
    supplier_id: str
    customer_account: str
    payment_method: str
    payment_network: str
    psp_reference: str
    status: TransactionEventStatus
    amount: Decimal
    currency: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SupplierPayout:
    """One payout of one supplier's balance, for one period."""

    payout_id: str
    supplier_id: str
    supplier_name: str
    status: SupplierPayoutStatus
    amount: Decimal
    currency: str
    order_count: int
    period_start: datetime
    period_end: datetime
    computed_at: datetime
    settled_at: datetime | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class FundingTransfer:
    """One movement of funds between two balance accounts.

    ``supplier_id`` is the supplier whose balance account is the source or the target
    (``None`` when neither is a supplier's).
    """

    transfer_id: str
    created_at: datetime
    status: FundingTransferStatus
    amount: Decimal
    currency: str
    source_balance_account_type: BalanceAccountType
    source_balance_account_id: str
    target_balance_account_type: BalanceAccountType
    target_balance_account_id: str
    supplier_id: str | None
    related_entity_type: RelatedEntityType
    related_entity_id: str
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class MarketplacePayout:
    """One payout of the marketplace's commissions, for one period."""

    payout_id: str
    status: MarketplacePayoutStatus
    amount: Decimal
    currency: str
    order_count: int
    period_start: datetime
    period_end: datetime
    computed_at: datetime
    settled_at: datetime | None
    failure_reason: str | None


Record = TransactionEvent | SupplierPayout | FundingTransfer | MarketplacePayout
"""A row of any export."""


def column_names(record_type: type[Record]) -> tuple[str, ...]:
    """The fields of a record type, in the order of the CSV's columns."""
    return tuple(f.name for f in fields(record_type))


def _within(value: Decimal, low: Decimal | None, high: Decimal | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _between(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment <= end)


def _check_range(name: str, low: object | None, high: object | None) -> None:
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        raise ValueError(f"{name}: the lower bound is above the upper bound")


def _check_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() != timedelta(0)):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime")


@dataclass(frozen=True, slots=True)
class TransactionEventFilters:
    """Which transaction events an export holds: every bound is inclusive, every empty set
    or ``None`` means "any"."""

    statuses: frozenset[TransactionEventStatus] = frozenset()
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    updated_at_from: datetime | None = None
    updated_at_to: datetime | None = None

    def __post_init__(self) -> None:
        _check_range("amount", self.amount_min, self.amount_max)
        _check_range("updatedAt", self.updated_at_from, self.updated_at_to)
        _check_utc("updated_at_from", self.updated_at_from)
        _check_utc("updated_at_to", self.updated_at_to)

    def matches(self, event: TransactionEvent) -> bool:
        """Whether ``event`` belongs in the export."""
        return (
            (not self.statuses or event.status in self.statuses)
            and _within(event.amount, self.amount_min, self.amount_max)
            and _between(event.updated_at, self.updated_at_from, self.updated_at_to)
        )


@dataclass(frozen=True, slots=True)
class FundingTransferFilters:
    """Which funding transfers an export holds: every bound is inclusive, every empty set
    or ``None`` means "any". For a supplier's export, ``supplier_ids`` is always empty:
    the export's scope already restricts it to the supplier's own transfers."""

    created_at_from: datetime | None = None
    created_at_to: datetime | None = None
    statuses: frozenset[FundingTransferStatus] = frozenset()
    supplier_ids: frozenset[str] = frozenset()
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    source_balance_account_type: BalanceAccountType | None = None
    target_balance_account_type: BalanceAccountType | None = None

    def __post_init__(self) -> None:
        _check_range("amount", self.amount_min, self.amount_max)
        _check_range("createdAt", self.created_at_from, self.created_at_to)
        _check_utc("created_at_from", self.created_at_from)
        _check_utc("created_at_to", self.created_at_to)

    def matches(self, transfer: FundingTransfer) -> bool:
        """Whether ``transfer`` belongs in the export."""
        source, target = self.source_balance_account_type, self.target_balance_account_type
        return (
            _between(transfer.created_at, self.created_at_from, self.created_at_to)
            and (not self.statuses or transfer.status in self.statuses)
            and (not self.supplier_ids or transfer.supplier_id in self.supplier_ids)
            and _within(transfer.amount, self.amount_min, self.amount_max)
            and (source is None or transfer.source_balance_account_type is source)
            and (target is None or transfer.target_balance_account_type is target)
        )


ExportFilters = TransactionEventFilters | FundingTransferFilters
"""The filters of the export types that take any."""


@dataclass(frozen=True, slots=True)
class ExportScope:
    """Whose data an export may hold: one tenant's, and only one supplier's when the
    requester is that supplier (``supplier_id``)."""

    tenant_id: str
    supplier_id: str | None = None

    def admits(self, supplier_ids: Iterable[str | None]) -> bool:
        """Whether a record involving these suppliers is within scope."""
        return self.supplier_id is None or self.supplier_id in supplier_ids
