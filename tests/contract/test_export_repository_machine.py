"""The export repository state machine passes the in-memory adapter and fails broken ones."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from export_resend.adapters.memory import (
    InMemoryExportRepository,
    InMemoryStore,
    InMemoryUnitOfWork,
)
from export_resend.domain.export import Export, ExportPage, ExportQuery, newest_first
from export_resend.domain.ports import UnitOfWorkFactory
from export_resend.testing.state_machine import ExportRepositoryMachine, default_settings


class InMemoryExportRepositoryMachine(ExportRepositoryMachine):
    async def open_unit_of_work(self) -> UnitOfWorkFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)


TestInMemoryExportRepository = InMemoryExportRepositoryMachine.TestCase


class TenantBlindExportRepository(InMemoryExportRepository):
    """Lists the owner's exports of every tenant: the bug the machine must catch."""

    async def list(self, query: ExportQuery, now: datetime) -> ExportPage:
        found = sorted(
            (
                e
                for e in self._table.rows()
                if dataclasses.replace(query, tenant_id=e.tenant_id).matches(e, now)
            ),
            key=newest_first,
            reverse=True,
        )
        start = query.page * query.size
        return ExportPage(tuple(found[start : start + query.size]), len(found))


class VersionBlindExportRepository(InMemoryExportRepository):
    """Stores every update, whatever version it was read at: lost updates."""

    async def update(self, export: Export) -> Export:
        stored = await self.get(export.id)
        current = export if stored is None else dataclasses.replace(export, version=stored.version)
        return await super().update(current)


class TenantBlindUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__(store)
        self.exports = TenantBlindExportRepository(self.exports._table)


class VersionBlindUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__(store)
        self.exports = VersionBlindExportRepository(self.exports._table)


class TenantBlindMachine(ExportRepositoryMachine):
    async def open_unit_of_work(self) -> UnitOfWorkFactory:
        store = InMemoryStore()
        return lambda: TenantBlindUnitOfWork(store)


class VersionBlindMachine(ExportRepositoryMachine):
    async def open_unit_of_work(self) -> UnitOfWorkFactory:
        store = InMemoryStore()
        return lambda: VersionBlindUnitOfWork(store)


# Always the same examples, more than enough of them (the bugs show within a dozen), and
# the first failure reported as found: shrinking it takes tens of seconds.
HUNTING = settings(
    default_settings(),
    max_examples=100,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    report_multiple_bugs=False,
)


def test_the_machine_runs_small_with_the_health_checks_of_the_loaded_profile() -> None:
    test_settings = TestInMemoryExportRepository.settings
    assert test_settings.suppress_health_check == settings().suppress_health_check
    assert (test_settings.max_examples, test_settings.stateful_step_count) == (25, 20)
    assert test_settings.deadline is None


def test_a_subclass_can_change_the_settings_and_its_own_subclasses_keep_them() -> None:
    @settings(max_examples=3)
    class Tuned(InMemoryExportRepositoryMachine):
        pass

    class Variant(Tuned):
        pass

    assert Tuned.TestCase.settings.max_examples == 3
    assert Variant.TestCase.settings.max_examples == 3
    assert Variant.TestCase.settings.suppress_health_check == settings().suppress_health_check


def test_the_machine_catches_a_list_that_ignores_the_tenant() -> None:
    with pytest.raises(AssertionError, match=r"list\(ExportQuery\(.*counted \d+ matches, expected"):
        run_state_machine_as_test(TenantBlindMachine, settings=HUNTING)


def test_the_machine_catches_an_update_that_ignores_the_version() -> None:
    with pytest.raises(AssertionError, match="expected ConcurrentUpdate, and the write was"):
        run_state_machine_as_test(VersionBlindMachine, settings=HUNTING)
