"""The export types, and everything that sets one apart from another, in one place.

A fifth export type is a member of ``ExportType``, a record (``records.py``), its row of
``KINDS``, a ``RowSource`` method and nothing else in the domain: the rules, the generator,
the commands, the demo source and the HTTP routes read their part from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from export_resend.domain.caller import ClientType
from export_resend.domain.errors import ExportTypeNotServed
from export_resend.domain.records import (
    ExportFilters,
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    MarketplacePayout,
    Record,
    SupplierPayout,
    TransactionEvent,
    TransactionEventFilters,
)


class ExportType(StrEnum):
    """What an export contains."""

    TRANSACTION_EVENTS = "TRANSACTION_EVENTS"
    SUPPLIER_PAYOUTS = "SUPPLIER_PAYOUTS"
    FUNDING_TRANSFERS = "FUNDING_TRANSFERS"
    MARKETPLACE_PAYOUTS = "MARKETPLACE_PAYOUTS"

    @property
    def kind(self) -> ExportKind:
        """What sets this type apart."""
        return KINDS[self]

    @property
    def label(self) -> str:
        """The type as people read it: "supplier payouts"."""
        return KINDS[self].label


_OPERATOR = frozenset({ClientType.OPERATOR})
_OPERATOR_AND_SUPPLIER = frozenset({ClientType.OPERATOR, ClientType.SUPPLIER})


@dataclass(frozen=True, slots=True)
class ExportKind:
    """One export type: its words, its rows and their columns, its filters, who may ask.

    ``slug`` names it where a word is needed (file names, templates); ``source_method``
    is the ``RowSource`` method that yields its records, given the scope, then the filters
    if the type has any.
    """

    export_type: ExportType
    label: str
    slug: str
    record: type[Record]
    filters: type[ExportFilters] | None
    requestable_by: frozenset[ClientType]
    source_method: str

    def served_by(self, source: object) -> bool:
        """Whether ``source`` has this type's method: its own, not the stub a class inherits
        by subclassing the ``RowSource`` protocol."""
        if not callable(getattr(source, self.source_method, None)):
            return False
        if self.source_method in getattr(source, "__dict__", {}):
            return True  # set on the object itself
        for klass in type(source).__mro__:
            if self.source_method in vars(klass):
                return not getattr(klass, "_is_protocol", False)
        return True

    def rows(
        self, source: object, scope: ExportScope, filters: ExportFilters | None
    ) -> AsyncIterator[Record]:
        """The records ``source`` yields for an export of this type; ``ExportTypeNotServed``
        when it has no method for it."""
        if not self.served_by(source):
            raise ExportTypeNotServed(self.label)
        method: Any = getattr(source, self.source_method)
        if self.filters is None:
            return method(scope)  # type: ignore[no-any-return]
        if not isinstance(filters, self.filters):
            filters = self.filters()
        return method(scope, filters)  # type: ignore[no-any-return]


KINDS: Mapping[ExportType, ExportKind] = MappingProxyType(
    {
        kind.export_type: kind
        for kind in (
            ExportKind(
                ExportType.TRANSACTION_EVENTS,
                "transaction events",
                "transaction-events",
                TransactionEvent,
                TransactionEventFilters,
                _OPERATOR_AND_SUPPLIER,
                "transaction_events",
            ),
            ExportKind(
                ExportType.SUPPLIER_PAYOUTS,
                "supplier payouts",
                "supplier-payouts",
                SupplierPayout,
                None,
                _OPERATOR,
                "supplier_payouts",
            ),
            ExportKind(
                ExportType.FUNDING_TRANSFERS,
                "funding transfers",
                "funding-transfers",
                FundingTransfer,
                FundingTransferFilters,
                _OPERATOR_AND_SUPPLIER,
                "funding_transfers",
            ),
            ExportKind(
                ExportType.MARKETPLACE_PAYOUTS,
                "marketplace payouts",
                "marketplace-payouts",
                MarketplacePayout,
                None,
                _OPERATOR,
                "marketplace_payouts",
            ),
        )
    }
)
"""Every export type's kind."""


def row_source_types(source: object) -> frozenset[ExportType]:
    """The export types ``source`` serves: those whose ``RowSource`` method it has."""
    return frozenset(kind.export_type for kind in KINDS.values() if kind.served_by(source))


def requestable_types(client_type: ClientType) -> frozenset[ExportType]:
    """The export types a kind of client may request."""
    return frozenset(k.export_type for k in KINDS.values() if client_type in k.requestable_by)
