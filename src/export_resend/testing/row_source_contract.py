"""The contract suite of ``RowSource``: subclass it and provide ``row_source`` and ``scope``
fixtures::

    class TestMyRowSource(RowSourceContract):
        @pytest.fixture
        def row_source(self) -> AnyRowSource:
            return MyRowSource(...)

        @pytest.fixture
        def scope(self) -> ExportScope:
            return ExportScope("a-tenant-with-rows")

Each check runs for every export type the source serves (``row_source_types``: those whose
method it has), on the data behind it, which must not change while the suite runs.

- ``scope`` names a tenant (no supplier) with rows of every type the source serves.
- ``supplier_scope`` (optional) names a supplier of that tenant. By default the suite takes
  the first supplier that the tenant's rows name (or a made-up one if none does).

The suite derives the filters it tries from the tenant's rows: for each field of a type's
filters, one filter at the value of the tenant's middle record (a set of that one value, or
a bound at it), one with every field at once, and one whose lower bounds are past every
record. So a filter leaves some rows out whenever the data varies in that field.

Memory is checked with ``tracemalloc`` (see ``test_memory_stays_flat_while_the_records_stream``
for what it can and cannot see), and only for a type with at least ``streaming_min_rows``
rows in ``scope``.
"""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol, runtime_checkable

import pytest

from export_resend.domain.export_types import KINDS, ExportKind, ExportType, row_source_types
from export_resend.domain.ports import AnyRowSource
from export_resend.domain.records import ExportFilters, ExportScope, Record

__all__ = ["RowSourceContract", "derived_filters"]

_NO_SUPPLIER = "a-supplier-with-no-rows"


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


def _is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def _datetimes(record: Record) -> Iterator[tuple[str, datetime]]:
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, datetime):
            yield field.name, value


def _names_a_supplier(kind: ExportKind) -> bool:
    return "supplier_id" in {field.name for field in dataclasses.fields(kind.record)}


def _attribute(filter_field: str, is_set: bool) -> tuple[str, str]:
    """The record attribute a filter field is about, and how: ``set``, ``low``, ``high``
    or ``equal`` (``statuses`` is about ``status``, ``amount_min`` about ``amount``)."""
    if is_set:
        return filter_field[:-2] if filter_field.endswith("ses") else filter_field[:-1], "set"
    for suffix, how in (("_from", "low"), ("_min", "low"), ("_to", "high"), ("_max", "high")):
        if filter_field.endswith(suffix):
            return filter_field.removesuffix(suffix), how
    return filter_field, "equal"


def _usable(value: object) -> bool:
    # a filter refuses a naive datetime: that is the timezone test's to report, not this one's
    return value is not None and not (isinstance(value, datetime) and not _is_utc(value))


def _beyond(value: object) -> object:
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    if isinstance(value, Decimal | int):
        return value + 1
    return None


def derived_filters(
    filters_type: type[ExportFilters], records: Sequence[Record]
) -> list[ExportFilters]:
    """Filters of ``filters_type`` made from ``records``' own values: one per field at the
    middle record's value, one with every field at once (the middle record matches both),
    and one whose lower bounds are past every record (nothing matches it)."""
    middle = records[len(records) // 2]
    one_by_one: list[ExportFilters] = []
    every_field: dict[str, Any] = {}
    past_the_end: dict[str, Any] = {}
    for field in dataclasses.fields(filters_type):
        attribute, how = _attribute(field.name, isinstance(field.default, frozenset))
        value = getattr(middle, attribute, None)
        if not _usable(value):
            continue
        argument: Any = frozenset({value}) if how == "set" else value
        one_by_one.append(filters_type(**{field.name: argument}))
        every_field[field.name] = argument
        values = [getattr(r, attribute) for r in records if _usable(getattr(r, attribute))]
        if how == "low" and (beyond := _beyond(max(values))) is not None:
            past_the_end[field.name] = beyond
    found = [*one_by_one, filters_type(**every_field)]
    return [*found, filters_type(**past_the_end)] if past_the_end else found


def _missing(wanted: Counter[Record], found: Counter[Record]) -> list[Record]:
    return list((wanted - found).elements())


def _some(records: Sequence[Record]) -> str:
    """``records`` for a failure message: how many, and the first."""
    return f"{len(records)} records, the first: {records[0]!r}" if records else "none"


class RowSourceContract:
    """What every row source must honour, for each export type it serves. Needs
    ``row_source`` and ``scope``; ``supplier_scope`` is optional."""

    pytestmark = pytest.mark.asyncio

    streaming_min_rows: ClassVar[int] = 5_000
    """How many rows of a type ``scope`` must have for its memory to be checked: with fewer,
    a source that reads its rows in batches cannot be told from one that holds them all."""

    @pytest.fixture
    def row_source(self) -> AnyRowSource:
        raise NotImplementedError("provide the row_source fixture")

    @pytest.fixture
    def scope(self) -> ExportScope:
        raise NotImplementedError("provide the scope fixture: a tenant with rows")

    @pytest.fixture
    def supplier_scope(self) -> ExportScope | None:
        """A supplier of ``scope``'s tenant; ``None``: the first that its rows name."""
        return None

    # -- reading ---------------------------------------------------------------------

    @staticmethod
    def _kinds(row_source: AnyRowSource) -> list[ExportKind]:
        served = row_source_types(row_source)
        assert served, "the row source serves no export type: it has no RowSource method"
        return [KINDS[t] for t in ExportType if t in served]

    @staticmethod
    async def _read(
        kind: ExportKind,
        row_source: AnyRowSource,
        scope: ExportScope,
        filters: ExportFilters | None = None,
    ) -> list[Record]:
        return [record async for record in kind.rows(row_source, scope, filters)]

    async def _tenant_rows(
        self, kind: ExportKind, row_source: AnyRowSource, scope: ExportScope
    ) -> list[Record]:
        assert scope.supplier_id is None, (
            f"the scope fixture must be a tenant's, with no supplier (got {scope}); "
            "name a supplier in the supplier_scope fixture"
        )
        records = await self._read(kind, row_source, scope)
        assert records, f"the scope fixture must name a tenant with {kind.label}: {scope} has none"
        return records

    async def _supplier(
        self, row_source: AnyRowSource, scope: ExportScope, supplier_scope: ExportScope | None
    ) -> ExportScope:
        if supplier_scope is not None:
            assert supplier_scope.tenant_id == scope.tenant_id, "supplier_scope: another tenant"
            assert supplier_scope.supplier_id is not None, "supplier_scope: no supplier"
            return supplier_scope
        for kind in self._kinds(row_source):
            for record in await self._tenant_rows(kind, row_source, scope):
                supplier_id = getattr(record, "supplier_id", None)
                if isinstance(supplier_id, str):
                    return ExportScope(scope.tenant_id, supplier_id)
        return ExportScope(scope.tenant_id, _NO_SUPPLIER)

    async def _both_scopes(
        self, row_source: AnyRowSource, scope: ExportScope, supplier_scope: ExportScope | None
    ) -> tuple[ExportScope, list[tuple[ExportKind, list[Record], list[Record]]]]:
        """The supplier's scope, and for each type its tenant's rows and the supplier's."""
        supplier = await self._supplier(row_source, scope, supplier_scope)
        return supplier, [
            (
                kind,
                await self._tenant_rows(kind, row_source, scope),
                await self._read(kind, row_source, supplier),
            )
            for kind in self._kinds(row_source)
        ]

    async def _filtered(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> list[tuple[ExportKind, list[Record], ExportFilters, list[Record]]]:
        """For each filtered type, the tenant's rows, and each derived filter's rows."""
        found = []
        for kind in self._kinds(row_source):
            if kind.filters is None:
                continue
            everything = await self._tenant_rows(kind, row_source, scope)
            for filters in derived_filters(kind.filters, everything):
                filtered = await self._read(kind, row_source, scope, filters)
                found.append((kind, everything, filters, filtered))
        return found

    # -- the contract ----------------------------------------------------------------

    async def test_each_type_yields_records_of_its_own_class_only(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> None:
        for kind in self._kinds(row_source):
            for record in await self._tenant_rows(kind, row_source, scope):
                assert isinstance(record, kind.record), (
                    f"{kind.label}: yielded a {type(record).__name__}, not a {kind.record.__name__}"
                )

    async def test_every_datetime_is_timezone_aware_utc(
        self,
        row_source: AnyRowSource,
        scope: ExportScope,
        supplier_scope: ExportScope | None,
    ) -> None:
        _, rows = await self._both_scopes(row_source, scope, supplier_scope)
        for kind, tenant, supplier in rows:
            for record in (*tenant, *supplier):
                for name, moment in _datetimes(record):
                    assert _is_utc(moment), (
                        f"{kind.label}: {name}={moment!r} is not timezone-aware UTC"
                    )

    async def test_a_supplier_scope_yields_only_that_suppliers_records(
        self,
        row_source: AnyRowSource,
        scope: ExportScope,
        supplier_scope: ExportScope | None,
    ) -> None:
        supplier, rows = await self._both_scopes(row_source, scope, supplier_scope)
        for kind, _, records in rows:
            if not _names_a_supplier(kind):
                continue  # marketplace payouts name no supplier: the subset test covers them
            others = [r for r in records if getattr(r, "supplier_id", None) != supplier.supplier_id]
            assert not others, f"{kind.label} for {supplier}: another supplier's: {_some(others)}"

    async def test_a_supplier_scope_yields_a_subset_of_its_tenants_records(
        self,
        row_source: AnyRowSource,
        scope: ExportScope,
        supplier_scope: ExportScope | None,
    ) -> None:
        supplier, rows = await self._both_scopes(row_source, scope, supplier_scope)
        for kind, tenant, records in rows:
            extra = _missing(Counter(records), Counter(tenant))
            assert not extra, f"{kind.label} for {supplier}: not among the tenant's: {_some(extra)}"

    async def test_a_supplier_scope_yields_every_record_of_that_supplier(
        self,
        row_source: AnyRowSource,
        scope: ExportScope,
        supplier_scope: ExportScope | None,
    ) -> None:
        supplier, rows = await self._both_scopes(row_source, scope, supplier_scope)
        for kind, tenant, records in rows:
            own = [r for r in tenant if getattr(r, "supplier_id", None) == supplier.supplier_id]
            left_out = _missing(Counter(own), Counter(records))
            assert not left_out, f"{kind.label} for {supplier}: left out: {_some(left_out)}"

    async def test_every_filtered_record_matches_the_filters(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> None:
        for kind, _, filters, filtered in await self._filtered(row_source, scope):
            wrong = [r for r in filtered if not filters.matches(r)]  # type: ignore[arg-type]
            assert not wrong, f"{kind.label} with {filters}: not matching: {_some(wrong)}"

    async def test_filtered_records_are_a_subset_of_the_unfiltered(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> None:
        for kind, everything, filters, filtered in await self._filtered(row_source, scope):
            extra = _missing(Counter(filtered), Counter(everything))
            assert not extra, (
                f"{kind.label} with {filters}: not among the unfiltered: {_some(extra)}"
            )

    async def test_filters_leave_out_no_record_that_matches_them(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> None:
        for kind, everything, filters, filtered in await self._filtered(row_source, scope):
            matching = [r for r in everything if filters.matches(r)]  # type: ignore[arg-type]
            left_out = _missing(Counter(matching), Counter(filtered))
            assert not left_out, f"{kind.label} with {filters}: left out: {_some(left_out)}"

    async def test_the_same_arguments_yield_the_same_records_in_the_same_order(
        self,
        row_source: AnyRowSource,
        scope: ExportScope,
        supplier_scope: ExportScope | None,
    ) -> None:
        supplier = await self._supplier(row_source, scope, supplier_scope)
        for kind in self._kinds(row_source):
            tenant = await self._tenant_rows(kind, row_source, scope)
            cases: list[tuple[ExportScope, ExportFilters | None]] = [
                (scope, None),
                (supplier, None),
            ]
            if kind.filters is not None:
                cases.append((scope, derived_filters(kind.filters, tenant)[0]))
            for where, filters in cases:
                first = await self._read(kind, row_source, where, filters)
                again = await self._read(kind, row_source, where, filters)
                assert first == again, f"{kind.label} for {where} with {filters}: not the same"

    async def test_reading_may_stop_after_the_first_record_and_start_over(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> None:
        for kind in self._kinds(row_source):
            [first, *_] = await self._tenant_rows(kind, row_source, scope)
            records = kind.rows(row_source, scope, None)
            assert await anext(records) == first, f"{kind.label}: another first record"
            if isinstance(records, _Closable):
                await records.aclose()
            again = kind.rows(row_source, scope, None)
            assert await anext(again) == first, f"{kind.label}: another first record"
            if isinstance(again, _Closable):
                await again.aclose()

    async def test_memory_stays_flat_while_the_records_stream(
        self, row_source: AnyRowSource, scope: ExportScope
    ) -> None:
        """The most memory Python allocates while the records are read one at a time and
        let go (``tracemalloc``'s peak) stays below half of what holding them all takes.

        A source that builds a list of its records, or fetches every row of a query at
        once, before yielding, peaks at least at the whole; one that reads in batches
        peaks at about one batch. So it tells them apart only with many more rows than a
        batch: it is checked for a type with ``streaming_min_rows`` rows, skipped
        otherwise. It cannot see memory outside Python's allocator (a driver buffering a
        result in C, another process), memory held before the call (a cache filled by an
        earlier one), or state that grows slower than the records (a set of ids seen).
        """
        checked = []
        for kind in self._kinds(row_source):
            peak, count = await _peak_while_streaming(kind.rows(row_source, scope, None))
            if count < self.streaming_min_rows:
                continue
            held = await _memory_held(kind.rows(row_source, scope, None))
            assert peak < held / 2, (
                f"{kind.label}: reading {count} records one at a time peaked at {peak} bytes, "
                f"holding them all takes {held}: they are not streamed"
            )
            checked.append(kind)
        if not checked:
            pytest.skip(
                f"no export type has {self.streaming_min_rows} rows in {scope}: "
                "too few to tell streaming from holding every row"
            )


async def _traced(records: AsyncIterator[Record], keep: bool) -> tuple[int, int, int]:
    """Read ``records``, keeping them or not: the traced memory's peak above where it
    started, what is still held at the end above it, and how many records were read."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    # what was there before is left alone by the collector meanwhile (gc.freeze), so that
    # freeing some older garbage cannot make the records look smaller than they are
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        kept, count = [], 0
        async for record in records:
            count += 1
            if keep:
                kept.append(record)
        current, peak = tracemalloc.get_traced_memory()
        del kept
        return peak - base, current - base, count
    finally:
        if freezing:
            gc.unfreeze()
        if started:
            tracemalloc.stop()


async def _peak_while_streaming(records: AsyncIterator[Record]) -> tuple[int, int]:
    """The peak while reading ``records`` one at a time and letting each go, and how many."""
    peak, _, count = await _traced(records, keep=False)
    return peak, count


async def _memory_held(records: AsyncIterator[Record]) -> int:
    """How much memory holding every one of ``records`` takes."""
    _, held, _ = await _traced(records, keep=True)
    return held
