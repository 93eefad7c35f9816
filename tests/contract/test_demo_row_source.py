"""The demo row source passes the RowSource contract, whole or serving one type only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from export_resend.adapters.demo import DemoRowSource
from export_resend.domain.ports import AnyRowSource, SupplierPayoutRows
from export_resend.domain.records import ExportScope, SupplierPayout
from export_resend.testing import RowSourceContract

ROWS = 1_500


class TestDemoRowSource(RowSourceContract):
    # the demo makes one record at a time, reading no batch: a thousand rows are plenty to
    # tell that from holding them all
    streaming_min_rows = 1_000

    @pytest.fixture
    def row_source(self) -> AnyRowSource:
        return DemoRowSource(rows=ROWS, seed=3)

    @pytest.fixture
    def scope(self) -> ExportScope:
        return ExportScope("demo")


class TestDemoRowSourceForANamedSupplier(TestDemoRowSource):
    @pytest.fixture
    def supplier_scope(self) -> ExportScope:
        return ExportScope("demo", "supplier-orion")


class OnlySupplierPayouts(SupplierPayoutRows):
    """A host's source of one export type: the demo's supplier payouts, nothing else."""

    def __init__(self) -> None:
        self._demo = DemoRowSource(rows=ROWS)

    def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        return self._demo.supplier_payouts(scope)


class TestASourceOfOneType(RowSourceContract):
    streaming_min_rows = 1_000

    @pytest.fixture
    def row_source(self) -> AnyRowSource:
        return OnlySupplierPayouts()

    @pytest.fixture
    def scope(self) -> ExportScope:
        return ExportScope("acme")
