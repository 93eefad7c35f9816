"""Adapters with one deliberate defect each, and the contract suites run against them.

Not collected here (the file name does not start with ``test_``):
``test_broken_adapters.py`` runs each ``Test*`` class below in a pytest of its own and
checks which tests fail. Next to each broken one is the honest adapter it is made from,
run the same way: all of its tests must pass, so a failure is the defect's doing.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pytest

from export_resend.adapters.demo import DemoRowSource
from export_resend.adapters.memory import InMemoryFileStore, InMemoryMailer
from export_resend.domain.delivery import RecipientResult
from export_resend.domain.ports import (
    AnyRowSource,
    FileStore,
    Mailer,
    OutgoingEmail,
    RowSource,
    checked_file_key,
)
from export_resend.domain.records import (
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    MarketplacePayout,
    Record,
    SupplierPayout,
    TransactionEvent,
    TransactionEventFilters,
)
from export_resend.testing import FileStoreContract, MailerContract, RowSourceContract
from export_resend.testing.mailer_contract import Mailbox, Received

R = TypeVar("R", bound=Record)

# -- mailers ----------------------------------------------------------------------------


class CcStrippingMailer(InMemoryMailer):
    """Sends to the whole envelope, but drops the ``Cc:`` header from the message."""

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]:
        message = copy.deepcopy(email.message)
        del message["Cc"]
        return await super().send(dataclasses.replace(email, message=message))


class _Mailbox:
    def __init__(self, mailer: InMemoryMailer) -> None:
        self._mailer = mailer

    async def received(self) -> Sequence[Received]:
        return [Received(e.sender, e.recipients, e.message) for e in self._mailer.sent]


class TestHonestMailer(MailerContract):
    @pytest.fixture
    def memory_mailer(self) -> InMemoryMailer:
        return InMemoryMailer()

    @pytest.fixture
    def mailer(self, memory_mailer: InMemoryMailer) -> Mailer:
        return memory_mailer

    @pytest.fixture
    def mailbox(self, memory_mailer: InMemoryMailer) -> Mailbox:
        return _Mailbox(memory_mailer)


class TestCcStrippingMailer(TestHonestMailer):
    @pytest.fixture
    def memory_mailer(self) -> InMemoryMailer:
        return CcStrippingMailer()


# -- file stores ------------------------------------------------------------------------


class NeverDeletingFileStore(InMemoryFileStore):
    """Checks the key of a delete, and deletes nothing."""

    async def delete(self, key: str) -> None:
        checked_file_key(key)


class TestHonestFileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self) -> FileStore:
        return InMemoryFileStore()


class TestNeverDeletingFileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self) -> FileStore:
        return NeverDeletingFileStore()


# -- row sources ------------------------------------------------------------------------


class _AlteredDemo(RowSource):
    """The demo's rows, with the scope, the filters or each record altered first."""

    def __init__(self) -> None:
        self._demo = DemoRowSource(rows=1_500)

    def scope(self, scope: ExportScope) -> ExportScope:
        return scope

    def transaction_event_filters(
        self, filters: TransactionEventFilters
    ) -> TransactionEventFilters:
        return filters

    def funding_transfer_filters(self, filters: FundingTransferFilters) -> FundingTransferFilters:
        return filters

    def record(self, record: R) -> R:
        return record

    async def _altered(self, records: AsyncIterator[R]) -> AsyncIterator[R]:
        async for record in records:
            yield self.record(record)

    def transaction_events(
        self, scope: ExportScope, filters: TransactionEventFilters
    ) -> AsyncIterator[TransactionEvent]:
        filters = self.transaction_event_filters(filters)
        return self._altered(self._demo.transaction_events(self.scope(scope), filters))

    def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        return self._altered(self._demo.supplier_payouts(self.scope(scope)))

    def funding_transfers(
        self, scope: ExportScope, filters: FundingTransferFilters
    ) -> AsyncIterator[FundingTransfer]:
        filters = self.funding_transfer_filters(filters)
        return self._altered(self._demo.funding_transfers(self.scope(scope), filters))

    def marketplace_payouts(self, scope: ExportScope) -> AsyncIterator[MarketplacePayout]:
        return self._altered(self._demo.marketplace_payouts(self.scope(scope)))


def _naive(value: object) -> object:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


class NaiveDatetimeRowSource(_AlteredDemo):
    """Every datetime without its time zone: what a ``timestamp without time zone`` column
    read as it comes gives."""

    def record(self, record: R) -> R:
        changes: dict[str, Any] = {
            f.name: _naive(getattr(record, f.name)) for f in dataclasses.fields(record)
        }
        return dataclasses.replace(record, **changes)


class ScopeBlindRowSource(_AlteredDemo):
    """Gives a supplier the whole tenant's rows."""

    def scope(self, scope: ExportScope) -> ExportScope:
        return ExportScope(scope.tenant_id)


class FilterBlindRowSource(_AlteredDemo):
    """Yields every row whatever the filters."""

    def transaction_event_filters(
        self, filters: TransactionEventFilters
    ) -> TransactionEventFilters:
        return TransactionEventFilters()

    def funding_transfer_filters(self, filters: FundingTransferFilters) -> FundingTransferFilters:
        return FundingTransferFilters()


class HoardingRowSource(_AlteredDemo):
    """Reads every row into a list before yielding the first."""

    async def _altered(self, records: AsyncIterator[R]) -> AsyncIterator[R]:
        for record in [record async for record in records]:
            yield record


class OrderlessRowSource(_AlteredDemo):
    """Yields the records of every other call with each pair swapped."""

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0

    async def _altered(self, records: AsyncIterator[R]) -> AsyncIterator[R]:
        self._calls += 1
        swap, held = self._calls % 2 == 0, None
        async for record in records:
            if not swap:
                yield record
            elif held is None:
                held = record
            else:
                yield record
                yield held
                held = None
        if held is not None:
            yield held


class ForgetfulFilteringRowSource(_AlteredDemo):
    """Under filters, leaves out every tenth record that matches them."""

    def transaction_events(
        self, scope: ExportScope, filters: TransactionEventFilters
    ) -> AsyncIterator[TransactionEvent]:
        records = super().transaction_events(scope, filters)
        return records if filters == TransactionEventFilters() else _every_but_tenth(records)

    def funding_transfers(
        self, scope: ExportScope, filters: FundingTransferFilters
    ) -> AsyncIterator[FundingTransfer]:
        records = super().funding_transfers(scope, filters)
        return records if filters == FundingTransferFilters() else _every_but_tenth(records)


async def _every_but_tenth(records: AsyncIterator[R]) -> AsyncIterator[R]:
    index = 0
    async for record in records:
        index += 1
        if index % 10:
            yield record


def _row_source_suite(make: Callable[[], AnyRowSource]) -> type[RowSourceContract]:
    class Suite(RowSourceContract):
        streaming_min_rows = 1_000

        @pytest.fixture
        def row_source(self) -> AnyRowSource:
            return make()

        @pytest.fixture
        def scope(self) -> ExportScope:
            return ExportScope("demo")

    return Suite


TestHonestRowSource = _row_source_suite(_AlteredDemo)
TestNaiveDatetimeRowSource = _row_source_suite(NaiveDatetimeRowSource)
TestScopeBlindRowSource = _row_source_suite(ScopeBlindRowSource)
TestFilterBlindRowSource = _row_source_suite(FilterBlindRowSource)
TestHoardingRowSource = _row_source_suite(HoardingRowSource)
TestOrderlessRowSource = _row_source_suite(OrderlessRowSource)
TestForgetfulFilteringRowSource = _row_source_suite(ForgetfulFilteringRowSource)
