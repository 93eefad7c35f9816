"""A hypothesis state machine that holds any export repository to a plain dict model.

Subclass ``ExportRepositoryMachine``, say how to open your unit of work (and how to close
what it holds), and expose its ``TestCase`` to your test runner::

    class SqlExportRepositoryMachine(ExportRepositoryMachine):
        async def open_unit_of_work(self) -> UnitOfWorkFactory:
            self.engine = create_async_engine(URL)
            return lambda: SqlAlchemyUnitOfWork(self.engine)

        async def close(self) -> None:
            await self.engine.dispose()

    TestSqlExportRepository = SqlExportRepositoryMachine.TestCase

Every run writes under two fresh tenants, so a database shared with earlier runs or other
tests does not disturb it. ``docs/testing-kit.md`` lists what each rule checks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    rule,
)

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import (
    MAX_PAGE_SIZE,
    Export,
    ExportFile,
    ExportPage,
    ExportQuery,
    ExportStatus,
    ExportType,
    newest_first,
)
from export_resend.domain.ports import (
    ConcurrentUpdate,
    DuplicateId,
    UnitOfWork,
    UnitOfWorkFactory,
    UnknownId,
)
from export_resend.testing.strategies import (
    download_periods,
    export_files,
    exports,
    failure_reasons,
    moments,
)

T = TypeVar("T")

OWNERS = ("ada", "bob", "cleo")
"""The owners of each tenant's exports; both tenants have all three."""

_LOW_BITS = 2**64 - 1
_TENANTS = st.sampled_from([0, 1])
_OWNER_IDS = st.sampled_from(OWNERS)
_TYPES = st.none() | st.sampled_from(ExportType)
_STATUSES = st.none() | st.sampled_from(ExportStatus)
_PAGES = st.integers(0, 30)
_SIZES = st.integers(1, MAX_PAGE_SIZE)
_DELAYS = st.timedeltas(timedelta(0), timedelta(days=400))
_VERSION_SHIFTS = st.sampled_from([-3, -2, -1, 1, 2, 3])
_STALE_CC = ("stale-write@example.com",)
# Drawn exports get this run's tenant, owner and id before use. Their CC addresses and
# request times come from small pools: cheap to draw, and request times often tie, which
# is where ordering by id shows.
_PLACEHOLDER = Caller("owner", "owner@tenant.example.com", "tenant", ClientType.OPERATOR)
_CC_POOL = ["finance@example.com", "Audit.Team@Example.org", "ops+exports@eu.example.io"]
_SHARED_MOMENTS = [datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)]
_EXPORTS = exports(
    _PLACEHOLDER,
    cc=st.lists(st.sampled_from(_CC_POOL), max_size=3, unique=True),
    requested_at=st.sampled_from(_SHARED_MOMENTS) | moments(),
)


def default_settings() -> settings:
    """What a subclass's ``TestCase`` runs with unless it is given others: small and quick,
    no deadline (a database round trip varies), and the rest from the loaded Hypothesis
    profile. Its health checks are the profile's: all of them on by default, ``too_slow``
    off under the ``ci`` profile Hypothesis loads when it sees a CI environment."""
    return settings(max_examples=25, stateful_step_count=20, deadline=None)


class ExportRepositoryMachine(RuleBasedStateMachine):
    """Random sequences of adds, reads, updates and listings, each checked against a dict.

    Subclass it and implement ``open_unit_of_work`` (and ``close`` when the unit of work
    holds resources); run it as ``YourMachine.TestCase`` or with
    ``hypothesis.stateful.run_state_machine_as_test``. ``TestCase`` runs with
    ``default_settings()``, or its parent machine's; decorate the subclass with
    ``@settings(...)`` to change them.

    Each run owns an event loop: both hooks and every repository call run on it, so an
    adapter made in ``open_unit_of_work`` is bound to the loop that uses it.
    """

    stored: ClassVar[Bundle[UUID]] = Bundle("stored")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parents = [
            base
            for base in cls.__mro__[1:]
            if issubclass(base, ExportRepositoryMachine) and base is not ExportRepositoryMachine
        ]
        cls.TestCase.settings = parents[0].TestCase.settings if parents else default_settings()

    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.new_event_loop()
        try:
            self.unit_of_work = self._run(self.open_unit_of_work())
        except BaseException:
            self._loop.close()
            raise
        self.tenants = (f"t-{uuid4().hex[:12]}", f"t-{uuid4().hex[:12]}")
        self.model: dict[UUID, Export] = {}
        self._stored_prefix = uuid4().int >> 64
        self._unknown_prefix = uuid4().int >> 64

    async def open_unit_of_work(self) -> UnitOfWorkFactory:
        """Make the adapter under test, on this machine's event loop, once per run."""
        raise NotImplementedError("implement open_unit_of_work in a subclass")

    async def close(self) -> None:
        """Release what ``open_unit_of_work`` opened; called once at the end of each run."""

    def teardown(self) -> None:
        """Close the adapter, then the event loop."""
        try:
            self._run(self.close())
        finally:
            try:
                self._run(self._loop.shutdown_asyncgens())
                self._run(self._loop.shutdown_default_executor())
            finally:
                self._loop.close()

    @rule(target=stored, tenant=_TENANTS, owner=_OWNER_IDS, export=_EXPORTS)
    def add(self, tenant: int, owner: str, export: Export) -> UUID:
        """A new export, in any status, is stored and comes back equal."""
        new = self._placed(export, tenant, owner, self._fresh_id(export.id))

        async def write(uow: UnitOfWork) -> None:
            await uow.exports.add(new)
            await uow.commit()

        self._in_unit_of_work(write)
        self.model[new.id] = new
        self._check_stored(new.id)
        return new.id

    @rule(export_id=stored, tenant=_TENANTS, owner=_OWNER_IDS, export=_EXPORTS)
    def add_a_stored_id(self, export_id: UUID, tenant: int, owner: str, export: Export) -> None:
        """Adding an id already stored, in any tenant, raises DuplicateId and changes nothing."""
        duplicate = self._placed(export, tenant, owner, export_id)

        async def write(uow: UnitOfWork) -> None:
            await uow.exports.add(duplicate)
            await uow.commit()

        self._refused(DuplicateId, write)
        self._check_stored(export_id)

    @rule(export_id=stored, lock=st.booleans())
    def get(self, export_id: UUID, lock: bool) -> None:
        """A stored export comes back as last stored, with or without a lock."""
        found = self._in_unit_of_work(lambda uow: uow.exports.get(export_id, lock=lock))
        assert found == self.model[export_id], (
            f"get({export_id}) returned {found!r}, expected {self.model[export_id]!r}"
        )

    @rule(drawn=st.uuids())
    def get_an_unknown_id(self, drawn: UUID) -> None:
        """An id never stored is None."""
        unknown = self._unknown_id(drawn)
        found = self._in_unit_of_work(lambda uow: uow.exports.get(unknown))
        assert found is None, f"get({unknown}) of an id never stored returned {found!r}"

    @rule(
        export_id=stored,
        fail=st.booleans(),
        reason=failure_reasons(),
        file=export_files(),
        ttl=download_periods(),
        delay=_DELAYS,
    )
    def advance(
        self,
        *,
        export_id: UUID,
        fail: bool,
        reason: str,
        file: ExportFile,
        ttl: timedelta,
        delay: timedelta,
    ) -> None:
        """An update from the stored version is stored and returned with version + 1.

        PENDING becomes FAILED or READY, READY becomes EXPIRED (at or after ``expires_at``);
        a FAILED or EXPIRED export is stored again unchanged, which still counts as a version.
        """
        current = self.model[export_id]
        if current.status is ExportStatus.PENDING:
            ready_at = current.requested_at + delay
            changed = (
                current.mark_failed(reason) if fail else current.mark_ready(file, ready_at, ttl)
            )
        elif current.status is ExportStatus.READY and current.expires_at is not None:
            changed = current.expire(current.expires_at + delay)
        else:
            changed = current

        async def write(uow: UnitOfWork) -> Export:
            read = await uow.exports.get(export_id, lock=True)
            assert read == current, f"get({export_id}, lock=True) returned {read!r}"
            stored = await uow.exports.update(changed)
            await uow.commit()
            return stored

        stored = self._in_unit_of_work(write)
        expected = dataclasses.replace(changed, version=current.version + 1)
        assert stored == expected, f"update returned {stored!r}, expected {expected!r}"
        self.model[export_id] = expected
        self._check_stored(export_id)

    @rule(export_id=stored, shift=_VERSION_SHIFTS)
    def update_from_a_stale_version(self, export_id: UUID, shift: int) -> None:
        """An update whose version is not the stored one raises ConcurrentUpdate and changes
        nothing."""
        current = self.model[export_id]
        version = current.version + (shift if current.version + shift >= 0 else -shift)
        cc = () if current.cc == _STALE_CC else _STALE_CC
        stale = dataclasses.replace(current, version=version, cc=cc)

        async def write(uow: UnitOfWork) -> None:
            await uow.exports.update(stale)
            await uow.commit()

        self._refused(ConcurrentUpdate, write)
        self._check_stored(export_id)

    @rule(tenant=_TENANTS, owner=_OWNER_IDS, export=_EXPORTS)
    def update_an_unknown_id(self, tenant: int, owner: str, export: Export) -> None:
        """Updating an id never stored raises UnknownId and stores nothing."""
        unknown = self._placed(export, tenant, owner, self._unknown_id(export.id))

        async def write(uow: UnitOfWork) -> None:
            await uow.exports.update(unknown)
            await uow.commit()

        self._refused(UnknownId, write)
        found = self._in_unit_of_work(lambda uow: uow.exports.get(unknown.id))
        assert found is None, f"a refused update of {unknown.id} stored {found!r}"

    @rule(export_id=stored, tenant=_TENANTS, owner=_OWNER_IDS, export=_EXPORTS)
    def write_without_commit(
        self, export_id: UUID, tenant: int, owner: str, export: Export
    ) -> None:
        """An add and an update are seen inside their unit of work, and not at all once it is
        left without ``commit()``."""
        new = self._placed(export, tenant, owner, self._fresh_id(export.id))
        current = self.model[export_id]

        async def write(uow: UnitOfWork) -> None:
            await uow.exports.add(new)
            touched = await uow.exports.update(current)
            assert await uow.exports.get(new.id) == new, "an add is not seen in its unit of work"
            assert await uow.exports.get(export_id) == touched, (
                "an update is not seen in its unit of work"
            )

        self._in_unit_of_work(write)
        found = self._in_unit_of_work(lambda uow: uow.exports.get(new.id))
        assert found is None, f"an add left without commit is stored: {found!r}"
        self._check_stored(export_id)

    @rule(
        tenant=_TENANTS,
        owner=_OWNER_IDS,
        export_type=_TYPES,
        status=_STATUSES,
        page=_PAGES,
        size=_SIZES,
        now=moments(),
    )
    def list_a_page(
        self,
        *,
        tenant: int,
        owner: str,
        export_type: ExportType | None,
        status: ExportStatus | None,
        page: int,
        size: int,
        now: datetime,
    ) -> None:
        """A page of one owner's exports in one tenant is the model's page, with its total."""
        query = ExportQuery(self.tenants[tenant], owner, export_type, status, page, size)
        self._check_page(query, now)

    @rule(
        export_id=stored,
        by_type=st.booleans(),
        by_status=st.booleans(),
        page=_PAGES,
        size=_SIZES,
        now=st.none() | moments(),
    )
    def list_the_owner_of_a_stored_export(
        self,
        *,
        export_id: UUID,
        by_type: bool,
        by_status: bool,
        page: int,
        size: int,
        now: datetime | None,
    ) -> None:
        """A page of a stored export's owner, filtered or not by that export's own type and
        effective status, is the model's page in the export's tenant and in the other one,
        where the same owner id must not find it.

        Without ``now`` it is asked at the export's ``expires_at`` (or ``requested_at``),
        the moment READY turns EXPIRED.
        """
        anchor = self.model[export_id]
        at = now or anchor.expires_at or anchor.requested_at
        export_type = anchor.type if by_type else None
        status = anchor.effective_status(at) if by_status else None
        for tenant in self.tenants:
            query = ExportQuery(tenant, anchor.owner_id, export_type, status, page, size)
            self._check_page(query, at)

    def _check_page(self, query: ExportQuery, now: datetime) -> None:
        page = self._in_unit_of_work(lambda uow: uow.exports.list(query, now))
        matches = sorted(
            (e for e in self.model.values() if query.matches(e, now)),
            key=newest_first,
            reverse=True,
        )
        start = query.page * query.size
        expected = ExportPage(tuple(matches[start : start + query.size]), len(matches))
        assert page.total == expected.total, (
            f"list({query}, now={now}) counted {page.total} matches, expected {expected.total}"
        )
        assert page.items == expected.items, (
            f"list({query}, now={now}) returned {page.items!r}, expected {expected.items!r}"
        )

    def _check_stored(self, export_id: UUID) -> None:
        found = self._in_unit_of_work(lambda uow: uow.exports.get(export_id))
        assert found == self.model[export_id], (
            f"get({export_id}) returned {found!r}, expected {self.model[export_id]!r}"
        )

    def _placed(self, export: Export, tenant: int, owner: str, export_id: UUID) -> Export:
        tenant_id = self.tenants[tenant]
        return dataclasses.replace(
            export,
            id=export_id,
            tenant_id=tenant_id,
            owner_id=owner,
            owner_email=f"{owner}@{tenant_id}.example.com",
        )

    def _fresh_id(self, drawn: UUID) -> UUID:
        """An id of this run, not stored yet, made from the drawn one's low bits so that
        ordering by id is reproducible."""
        low = drawn.int & _LOW_BITS
        while (candidate := UUID(int=self._stored_prefix << 64 | low)) in self.model:
            low = (low + 1) & _LOW_BITS
        return candidate

    def _unknown_id(self, drawn: UUID) -> UUID:
        """An id that no run stores, which may share its low bits with a stored one."""
        return UUID(int=self._unknown_prefix << 64 | drawn.int & _LOW_BITS)

    def _in_unit_of_work(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self.unit_of_work() as uow:
                return await work(uow)

        return self._run(run())

    def _refused(
        self, error: type[Exception], write: Callable[[UnitOfWork], Awaitable[None]]
    ) -> None:
        try:
            self._in_unit_of_work(write)
        except error:
            return
        raise AssertionError(f"expected {error.__name__}, and the write was accepted")

    def _run(self, step: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(step)
