"""The contract suite of ``UnitOfWork`` and its exports, deliveries and generation jobs:
subclass it and provide a ``unit_of_work`` fixture::

    class TestMyUnitOfWork(UnitOfWorkContract):
        @pytest.fixture
        def unit_of_work(self) -> UnitOfWorkFactory:
            return lambda: MyUnitOfWork(...)

Its rows belong to fresh exports, and its claims and backlogs look at moments long before
anyone else's, so the store may be shared with other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RetryPolicy,
)
from export_resend.domain.export import Export, ExportFile, ExportStatus
from export_resend.domain.generation import GenerationJob
from export_resend.domain.ports import (
    ConcurrentUpdate,
    DuplicateId,
    UnitOfWorkFactory,
    UnknownId,
)
from export_resend.domain.recipients import Recipients
from export_resend.testing.samples import SAMPLE_MOMENT as _T0
from export_resend.testing.samples import sample_delivery, sample_export
from export_resend.testing.unit_of_work_concurrency import ConcurrencyClauses

__all__ = ["UnitOfWorkContract"]


class UnitOfWorkContract(ConcurrencyClauses):
    """What every ``UnitOfWork`` (with its two repositories) must do. Needs ``unit_of_work``."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def unit_of_work(self) -> UnitOfWorkFactory:
        raise NotImplementedError("provide the unit_of_work fixture")

    async def _store(self, unit_of_work: UnitOfWorkFactory, *rows: Export | Delivery) -> None:
        async with unit_of_work() as uow:
            for row in rows:
                if isinstance(row, Export):
                    await uow.exports.add(row)
                else:
                    await uow.deliveries.add(row)
            await uow.commit()

    @pytest.mark.parametrize("status", list(ExportStatus))
    async def test_an_export_comes_back_exactly_as_stored(
        self, unit_of_work: UnitOfWorkFactory, status: ExportStatus
    ) -> None:
        export = sample_export(status, cc=("a@x.io", "b@x.io"))
        await self._store(unit_of_work, export)
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) == export

    async def test_a_committed_unit_of_work_refuses_more_statements(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export = sample_export()
        async with unit_of_work() as uow:
            await uow.exports.add(export)
            await uow.commit()
            with pytest.raises(RuntimeError):
                await uow.deliveries.add(sample_delivery(export))
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) == export
            assert list(await uow.deliveries.list_for_export(export.id)) == []

    async def test_an_unknown_id_is_none(self, unit_of_work: UnitOfWorkFactory) -> None:
        async with unit_of_work() as uow:
            assert await uow.exports.get(uuid4()) is None
            assert await uow.deliveries.get(uuid4()) is None
            assert list(await uow.deliveries.list_for_export(uuid4())) == []

    async def test_writes_are_seen_at_once_inside_and_only_after_commit_outside(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export = sample_export()
        async with unit_of_work() as writer:
            await writer.exports.add(export)
            assert await writer.exports.get(export.id) == export
            async with unit_of_work() as reader:
                assert await reader.exports.get(export.id) is None
            await writer.commit()
        async with unit_of_work() as reader:
            assert await reader.exports.get(export.id) == export

    async def test_leaving_without_commit_discards_everything(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export = sample_export()
        async with unit_of_work() as uow:
            await uow.exports.add(export)
            await uow.deliveries.add(sample_delivery(export))
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) is None
            assert list(await uow.deliveries.list_for_export(export.id)) == []

    async def test_an_exception_discards_everything(self, unit_of_work: UnitOfWorkFactory) -> None:
        export = sample_export()
        with pytest.raises(RuntimeError):
            async with unit_of_work() as uow:
                await uow.exports.add(export)
                raise RuntimeError("abandon")
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) is None

    async def test_adding_a_stored_id_is_refused(self, unit_of_work: UnitOfWorkFactory) -> None:
        export = sample_export()
        delivery = sample_delivery(export)
        await self._store(unit_of_work, export, delivery)
        with pytest.raises(DuplicateId):
            async with unit_of_work() as uow:
                await uow.exports.add(export)
                await uow.commit()
        with pytest.raises(DuplicateId):
            async with unit_of_work() as uow:
                await uow.deliveries.add(delivery)
                await uow.commit()

    async def test_updating_an_unknown_id_is_refused(self, unit_of_work: UnitOfWorkFactory) -> None:
        export = sample_export()
        with pytest.raises(UnknownId):
            async with unit_of_work() as uow:
                await uow.exports.update(export)
                await uow.commit()
        with pytest.raises(UnknownId):
            async with unit_of_work() as uow:
                await uow.deliveries.update(sample_delivery(export))
                await uow.commit()

    async def test_an_update_is_stored_on_commit(self, unit_of_work: UnitOfWorkFactory) -> None:
        export = sample_export()
        delivery = sample_delivery(export)
        await self._store(unit_of_work, export, delivery)
        expired = export.expire(_T0 + timedelta(days=30))
        results = (
            RecipientResult(export.owner_email, RecipientOutcome.ACCEPTED, 250, "ok"),
            RecipientResult(
                "finance@acme.example.com",
                RecipientOutcome.REFUSED_PERMANENTLY,
                550,
                "no such user",
            ),
        )
        sent = delivery.claimed(uuid4(), _T0, timedelta(minutes=2)).attempted(
            results, _T0 + timedelta(minutes=1), RetryPolicy()
        )
        async with unit_of_work() as uow:
            stored = await uow.exports.update(expired)
            await uow.deliveries.update(sent)
            await uow.commit()
        assert stored == dataclasses.replace(expired, version=expired.version + 1)
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) == stored
            assert await uow.deliveries.get(delivery.id) == sent

    async def test_an_update_from_a_stale_read_is_refused(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export = sample_export()
        await self._store(unit_of_work, export)
        async with unit_of_work() as first:
            read = await first.exports.get(export.id)
            assert read is not None
            async with unit_of_work() as second:
                await second.exports.update(read.expire(_T0 + timedelta(days=30)))
                await second.commit()
            with pytest.raises(ConcurrentUpdate):
                await first.exports.update(read.expire(_T0 + timedelta(days=31)))
                await first.commit()
        async with unit_of_work() as uow:
            final = await uow.exports.get(export.id)
        assert final is not None
        assert final.version == export.version + 1

    async def test_exports_and_deliveries_commit_together(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export = sample_export()
        stored = sample_export()
        await self._store(unit_of_work, stored)
        with pytest.raises(DuplicateId):
            async with unit_of_work() as uow:
                await uow.exports.add(export)
                await uow.deliveries.add(sample_delivery(export))
                await uow.exports.add(stored)
                await uow.commit()
        async with unit_of_work() as uow:
            assert await uow.exports.get(export.id) is None
            assert list(await uow.deliveries.list_for_export(export.id)) == []

    async def test_deliveries_of_an_export_come_oldest_first(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export, other = sample_export(), sample_export()
        late = sample_delivery(export, _T0 + timedelta(minutes=5))
        early = sample_delivery(export, _T0)
        middle = sample_delivery(export, _T0 + timedelta(minutes=1))
        await self._store(unit_of_work, export, other, late, early, sample_delivery(other), middle)
        async with unit_of_work() as uow:
            found = await uow.deliveries.list_for_export(export.id)
        assert [d.id for d in found] == [early.id, middle.id, late.id]

    async def test_deliveries_queued_at_the_same_moment_come_by_id(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export = sample_export()
        same = [sample_delivery(export) for _ in range(4)]
        await self._store(unit_of_work, export, *same)
        async with unit_of_work() as uow:
            found = await uow.deliveries.list_for_export(export.id)
        assert [d.id for d in found] == sorted(d.id for d in same)

    async def test_queued_since_gives_the_moments_of_one_kind_after_a_moment_oldest_first(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        export, other = sample_export(), sample_export()
        at = [_T0 + timedelta(minutes=m) for m in (30, 0, 10, 20)]
        resends = [sample_delivery(export, moment) for moment in at]
        initial = Delivery.queue(
            export.id,
            DeliveryKind.INITIAL,
            Recipients(export.owner_email),
            _T0 + timedelta(minutes=15),
            "example.com",
        )
        noise = sample_delivery(other, _T0 + timedelta(minutes=15))
        await self._store(unit_of_work, export, other, *resends, initial, noise)
        async with unit_of_work() as uow:
            found = await uow.deliveries.queued_since(export.id, DeliveryKind.RESEND, at[2])
            initials = await uow.deliveries.queued_since(export.id, DeliveryKind.INITIAL, _T0)
            none = await uow.deliveries.queued_since(uuid4(), DeliveryKind.RESEND, _T0)
        assert list(found) == [at[3], at[0]]  # strictly after 00:10, oldest first
        assert list(initials) == [initial.queued_at]
        assert list(none) == []

    async def _claim(
        self, unit_of_work: UnitOfWorkFactory, now: datetime, limit: int = 100
    ) -> list[Delivery]:
        async with unit_of_work() as uow:
            claimed = list(await uow.deliveries.claim(now, uuid4(), _LEASE, limit))
            await uow.commit()
        return claimed

    @contextlib.asynccontextmanager
    async def _outbox(
        self, unit_of_work: UnitOfWorkFactory, *minutes: int
    ) -> AsyncIterator[list[Delivery]]:
        """Deliveries of a new export queued ``minutes`` after ``_CLAIM_T0``, settled (DEAD)
        afterwards: the store may be shared, and a claim takes any due delivery in it."""
        export = sample_export()
        queued = [sample_delivery(export, _CLAIM_T0 + timedelta(minutes=m)) for m in minutes]
        await self._store(unit_of_work, export, *queued)
        try:
            yield queued
        finally:
            async with unit_of_work() as uow:
                for delivery in queued:
                    await uow.deliveries.update(delivery.dead("test over", _CLAIM_T0))
                await uow.commit()

    async def test_a_claim_takes_the_due_deliveries_earliest_first_and_leases_them(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._outbox(unit_of_work, 2, 1, 9, 0, 0) as (later, first, not_yet, *done):
            async with unit_of_work() as uow:
                await uow.deliveries.update(
                    dataclasses.replace(done[0], status=DeliveryStatus.SENT)
                )
                await uow.deliveries.update(done[1].dead("refused", _CLAIM_T0))
                await uow.commit()
            now, lease_id = _CLAIM_T0 + timedelta(minutes=5), uuid4()
            async with unit_of_work() as uow:
                claimed = await uow.deliveries.claim(now, lease_id, _LEASE, 10)
                await uow.commit()
            expected = [d.claimed(lease_id, now, _LEASE) for d in (first, later)]
            assert list(claimed) == expected
            async with unit_of_work() as uow:
                assert [await uow.deliveries.get(d.id) for d in (first, later)] == expected
                assert await uow.deliveries.get(not_yet.id) == not_yet

    async def test_a_claim_takes_at_most_its_limit(self, unit_of_work: UnitOfWorkFactory) -> None:
        async with self._outbox(unit_of_work, 0, 1, 2, 3, 4) as queued:
            now = _CLAIM_T0 + timedelta(minutes=10)
            first = await self._claim(unit_of_work, now, limit=2)
            second = await self._claim(unit_of_work, now, limit=2)
            assert [d.id for d in first + second] == [d.id for d in queued[:4]]

    async def test_a_leased_delivery_comes_back_only_when_its_lease_ends(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._outbox(unit_of_work, 0):
            [held] = await self._claim(unit_of_work, _CLAIM_T0)
            assert await self._claim(unit_of_work, _CLAIM_T0 + _LEASE - timedelta(seconds=1)) == []
            [again] = await self._claim(unit_of_work, _CLAIM_T0 + _LEASE)
            assert again.id == held.id
            assert again.lease_id != held.lease_id
            assert again.next_attempt_at == _CLAIM_T0 + 2 * _LEASE

    async def test_a_claim_not_committed_claims_nothing(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._outbox(unit_of_work, 0) as [delivery]:
            async with unit_of_work() as uow:
                assert len(await uow.deliveries.claim(_CLAIM_T0, uuid4(), _LEASE, 10)) == 1
            async with unit_of_work() as uow:
                assert await uow.deliveries.get(delivery.id) == delivery

    async def test_two_claims_at_once_never_take_the_same_delivery(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._outbox(unit_of_work, 0, 1, 2) as queued:
            now = _CLAIM_T0 + timedelta(minutes=5)
            async with unit_of_work() as first:
                taken = await first.deliveries.claim(now, uuid4(), _LEASE, 2)
                # the second claim skips what the first holds (or waits until it commits)
                second = asyncio.create_task(self._claim(unit_of_work, now))
                await asyncio.sleep(0.05)
                await first.commit()
            rest = await second
            assert [d.id for d in taken] == [d.id for d in queued[:2]]
            assert [d.id for d in rest] == [queued[2].id]

    @contextlib.asynccontextmanager
    async def _jobs(
        self, unit_of_work: UnitOfWorkFactory, *minutes: int
    ) -> AsyncIterator[list[GenerationJob]]:
        """Jobs of new PENDING exports, due ``minutes`` after ``_CLAIM_T0``, removed
        afterwards: the store may be shared, and a claim takes any due job in it."""
        exports = [sample_export(ExportStatus.PENDING) for _ in minutes]
        jobs = [
            GenerationJob.queue(e.id, _CLAIM_T0 + timedelta(minutes=m))
            for e, m in zip(exports, minutes, strict=True)
        ]
        async with unit_of_work() as uow:
            for export, job in zip(exports, jobs, strict=True):
                await uow.exports.add(export)
                await uow.jobs.add(job)
            await uow.commit()
        try:
            yield jobs
        finally:
            async with unit_of_work() as uow:
                for job in jobs:
                    await uow.jobs.remove(job.export_id)
                await uow.commit()

    async def _claim_jobs(
        self, unit_of_work: UnitOfWorkFactory, now: datetime, limit: int = 100
    ) -> list[GenerationJob]:
        async with unit_of_work() as uow:
            claimed = list(await uow.jobs.claim(now, uuid4(), _LEASE, limit))
            await uow.commit()
        return claimed

    async def test_a_job_comes_back_exactly_as_stored_and_once(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._jobs(unit_of_work, 0) as [job], unit_of_work() as uow:
            assert await uow.jobs.get(job.export_id) == job
            assert await uow.jobs.get(uuid4()) is None
            with pytest.raises(DuplicateId):
                await uow.jobs.add(job)
                await uow.commit()

    async def test_updating_an_unknown_job_is_refused(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with unit_of_work() as uow:
            with pytest.raises(UnknownId):
                await uow.jobs.update(GenerationJob.queue(uuid4(), _CLAIM_T0))

    async def test_a_removed_job_is_gone_and_removing_it_again_is_no_error(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._jobs(unit_of_work, 0) as [job]:
            async with unit_of_work() as uow:
                await uow.jobs.remove(job.export_id)
                assert await uow.jobs.get(job.export_id) is None
            async with unit_of_work() as uow:  # not committed: still there
                assert await uow.jobs.get(job.export_id) == job
                await uow.jobs.remove(job.export_id)
                await uow.jobs.remove(job.export_id)
                await uow.commit()
            async with unit_of_work() as uow:
                assert await uow.jobs.get(job.export_id) is None

    async def test_an_export_made_ready_its_email_and_its_job_removal_commit_together(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._jobs(unit_of_work, 0) as [job]:
            file = ExportFile(f"{job.export_id}.csv", 10, 1, "cd" * 32)
            for commit in (False, True):
                async with unit_of_work() as uow:
                    export = await uow.exports.get(job.export_id, lock=True)
                    assert export is not None
                    ready = await uow.exports.update(
                        export.mark_ready(file, _CLAIM_T0, timedelta(days=7))
                    )
                    delivery = Delivery.queue(
                        export.id, DeliveryKind.INITIAL, ready.recipients, _CLAIM_T0, "x.example"
                    )
                    await uow.deliveries.add(delivery)
                    await uow.jobs.remove(job.export_id)
                    if commit:
                        await uow.commit()
                async with unit_of_work() as uow:
                    stored = await uow.exports.get(job.export_id)
                    assert stored is not None
                    assert stored.status is (ExportStatus.READY if commit else ExportStatus.PENDING)
                    assert (await uow.deliveries.get(delivery.id) is not None) is commit
                    assert (await uow.jobs.get(job.export_id) is None) is commit
                    if commit:  # settle the email: a delivery claim may share the store
                        await uow.deliveries.update(delivery.dead("test over", _CLAIM_T0))
                        await uow.commit()

    async def test_a_job_claim_takes_due_jobs_earliest_first_leases_and_counts_them(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._jobs(unit_of_work, 2, 1, 9) as (later, first, not_yet):
            now, lease_id = _CLAIM_T0 + timedelta(minutes=5), uuid4()
            async with unit_of_work() as uow:
                claimed = await uow.jobs.claim(now, lease_id, _LEASE, 10)
                await uow.commit()
            expected = [j.claimed(lease_id, now, _LEASE) for j in (first, later)]
            assert list(claimed) == expected
            assert [j.attempts for j in claimed] == [1, 1]
            async with unit_of_work() as uow:
                assert [await uow.jobs.get(j.export_id) for j in (first, later)] == expected
                assert await uow.jobs.get(not_yet.export_id) == not_yet
            assert await self._claim_jobs(unit_of_work, now, limit=10) == []
            again = await self._claim_jobs(unit_of_work, now + _LEASE, limit=10)
            assert {(j.export_id, j.attempts) for j in again} == {
                (first.export_id, 2),
                (later.export_id, 2),
            }

    async def test_two_job_claims_at_once_never_take_the_same_job(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with self._jobs(unit_of_work, 0, 1, 2) as jobs:
            now = _CLAIM_T0 + timedelta(minutes=5)
            async with unit_of_work() as first:
                taken = await first.jobs.claim(now, uuid4(), _LEASE, 2)
                second = asyncio.create_task(self._claim_jobs(unit_of_work, now))
                await asyncio.sleep(0.05)
                await first.commit()
            rest = await second
            assert [j.export_id for j in taken] == [j.export_id for j in jobs[:2]]
            assert [j.export_id for j in rest] == [jobs[2].export_id]

    async def test_expired_lists_ready_exports_past_their_end_earliest_first(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        file = ExportFile("x.csv", 1, 1, "ef" * 32)
        ready = [
            sample_export(ExportStatus.PENDING).mark_ready(
                file, _CLAIM_T0 - timedelta(days=7, minutes=m), timedelta(days=7)
            )
            for m in (1, 3, -5)  # the last one ends after _CLAIM_T0
        ]
        recorded = sample_export(ExportStatus.EXPIRED)
        await self._store(unit_of_work, *ready, recorded)
        try:
            async with unit_of_work() as uow:
                found = await uow.exports.expired(_CLAIM_T0, 10)
                assert [e.id for e in found] == [ready[1].id, ready[0].id]
                assert [e.id for e in await uow.exports.expired(_CLAIM_T0, 1)] == [ready[1].id]
        finally:
            async with unit_of_work() as uow:  # recorded EXPIRED: no other sweep finds them
                for export in ready:
                    await uow.exports.update(export.expire(_CLAIM_T0 + timedelta(days=1)))
                await uow.commit()

    async def test_the_backlogs_count_what_waits_what_is_due_and_find_the_oldest(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        # the store may be shared: compare with what was there before, at a moment when
        # nothing of anyone else's is due yet
        now = _BACKLOG_T0 + timedelta(minutes=10)
        async with unit_of_work() as uow:
            outbox_before = await uow.deliveries.backlog(now)
            jobs_before = await uow.jobs.backlog(now)
        export = sample_export()
        due, later, sent = (
            sample_delivery(export, _BACKLOG_T0 + timedelta(minutes=m)) for m in (1, 20, 0)
        )
        leased = sample_delivery(export, _BACKLOG_T0 + timedelta(minutes=2)).claimed(
            uuid4(), _BACKLOG_T0 + timedelta(minutes=2), _LEASE
        )
        sent = dataclasses.replace(sent, status=DeliveryStatus.SENT)
        pending = [sample_export(ExportStatus.PENDING) for _ in range(2)]
        jobs = [
            GenerationJob.queue(e.id, _BACKLOG_T0 + timedelta(minutes=m))
            for e, m in zip(pending, (3, 30), strict=True)
        ]
        await self._store(unit_of_work, export, due, later, sent, leased, *pending)
        async with unit_of_work() as uow:
            for job in jobs:
                await uow.jobs.add(job)
            await uow.commit()
        try:
            async with unit_of_work() as uow:
                outbox = await uow.deliveries.backlog(now)
                queued = await uow.jobs.backlog(now)
            assert outbox.waiting == outbox_before.waiting + 3  # not the SENT one
            assert outbox.due == outbox_before.due + 2  # the leased one's lease has ended
            assert outbox.oldest_queued_at == min(
                filter(None, (outbox_before.oldest_queued_at, due.queued_at))
            )
            assert queued.waiting == jobs_before.waiting + 2
            assert queued.due == jobs_before.due + 1
            assert queued.oldest_queued_at == min(
                filter(None, (jobs_before.oldest_queued_at, jobs[0].queued_at))
            )
        finally:
            async with unit_of_work() as uow:
                for delivery in (due, later, leased):
                    await uow.deliveries.update(delivery.dead("test over", now))
                for job in jobs:
                    await uow.jobs.remove(job.export_id)
                await uow.commit()

    async def test_a_backlog_has_an_oldest_exactly_when_something_waits(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        async with unit_of_work() as uow:
            outbox = await uow.deliveries.backlog(_BACKLOG_T0)
            jobs = await uow.jobs.backlog(_BACKLOG_T0)
        for backlog in (outbox, jobs):
            assert (backlog.waiting == 0) == (backlog.oldest_queued_at is None)
            assert 0 <= backlog.due <= backlog.waiting


_CLAIM_T0 = datetime(2000, 1, 1, tzinfo=UTC)
"""Long before any other delivery of these suites, so that their claims never take those."""
_LEASE = timedelta(minutes=2)
_BACKLOG_T0 = datetime(1990, 1, 1, tzinfo=UTC)
"""Earlier still: the backlog suite's rows are the oldest, and nothing else is due then."""
