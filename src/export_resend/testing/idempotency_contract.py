"""The contract suite of ``IdempotencyKeyRepository``: subclass it and provide a
``unit_of_work`` fixture (the same one ``UnitOfWorkContract`` takes)::

    class TestMyIdempotencyKeys(IdempotencyKeyRepositoryContract):
        @pytest.fixture
        def unit_of_work(self) -> UnitOfWorkFactory:
            return lambda: MyUnitOfWork(...)

Every test uses a scope of its own, so a store shared with other tests does not upset it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord
from export_resend.domain.ports import DuplicateId, UnitOfWorkFactory, UnknownId

_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_PAST = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
"""Records purged by the purge test expire around here, long before anything else."""
_DAY = timedelta(hours=24)
_LEASE = timedelta(seconds=60)
_RESULT = {
    "export_id": "0b6a3e52-7c1f-4d8e-9a35-2f4c6b8d1e07",
    "cc": ["café@example.com", "日本@example.com"],
    "count": 3,
    "sent": True,
    "failure": None,
    "warnings": [{"code": "DUPLICATE", "field": "cc[1]", "message": 'a "quoted" line\n'}],
}
"""A result as a use case records it: JSON of every kind but NUL (no database column of JSON
need hold one)."""


def _key(
    scope: str | None = None, request: str = "POST /v1/x", value: str = "k-1"
) -> IdempotencyKey:
    return IdempotencyKey(scope or uuid4().hex, request, value)


def _record(key: IdempotencyKey, now: datetime = _T0) -> IdempotencyRecord:
    return IdempotencyRecord.begin(
        key, "f" * 64, now=now, retention=_DAY, lease_id=uuid4(), lease=_LEASE
    )


class IdempotencyKeyRepositoryContract:
    """What every unit of work's ``idempotency`` repository must do."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def unit_of_work(self) -> UnitOfWorkFactory:
        raise NotImplementedError("provide the unit_of_work fixture")

    async def _add(self, unit_of_work: UnitOfWorkFactory, *records: IdempotencyRecord) -> None:
        async with unit_of_work() as uow:
            for record in records:
                await uow.idempotency.add(record)
            await uow.commit()

    async def _get(
        self, unit_of_work: UnitOfWorkFactory, key: IdempotencyKey
    ) -> IdempotencyRecord | None:
        async with unit_of_work() as uow:
            return await uow.idempotency.get(key)

    async def test_a_record_in_flight_and_then_done_comes_back_exactly(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        record = _record(_key())
        await self._add(unit_of_work, record)
        assert await self._get(unit_of_work, record.key) == record
        done = record.completed(_RESULT)
        async with unit_of_work() as uow:
            assert await uow.idempotency.get(record.key, lock=True) == record
            await uow.idempotency.update(done)
            await uow.commit()
        assert await self._get(unit_of_work, record.key) == done

    async def test_an_empty_result_comes_back_as_such(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        done = _record(_key()).completed({})
        await self._add(unit_of_work, done)
        assert await self._get(unit_of_work, done.key) == done

    async def test_keys_differing_in_scope_request_or_value_are_different_keys(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        base = _key()
        others = [
            _key(scope=uuid4().hex, request=base.request, value=base.value),
            _key(scope=base.scope, request="POST /v1/y", value=base.value),
            _key(scope=base.scope, request=base.request, value="k-2"),
        ]
        await self._add(unit_of_work, _record(base), *(_record(k) for k in others))
        for key in [base, *others]:
            found = await self._get(unit_of_work, key)
            assert found is not None
            assert found.key == key

    async def test_an_unknown_key_is_none_and_cannot_be_updated(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        record = _record(_key())
        assert await self._get(unit_of_work, record.key) is None
        async with unit_of_work() as uow:
            with pytest.raises(UnknownId):
                await uow.idempotency.update(record)

    async def test_a_stored_key_cannot_be_added_again(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        record = _record(_key())
        await self._add(unit_of_work, record)
        with pytest.raises(DuplicateId):
            await self._add(unit_of_work, _record(record.key))
        assert await self._get(unit_of_work, record.key) == record

    async def test_of_two_first_uses_at_once_only_one_commits(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        key = _key()
        first, second = _record(key), _record(key)
        results = await asyncio.gather(
            self._add(unit_of_work, first),
            self._add(unit_of_work, second),
            return_exceptions=True,
        )
        assert sum(isinstance(r, DuplicateId) for r in results) == 1, results
        assert results.count(None) == 1
        assert await self._get(unit_of_work, key) in (first, second)

    async def test_a_locked_read_waits_for_another_unit_of_work_holding_the_key(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        """What makes a take-over safe: the holder that reads its key with ``lock`` cannot be
        overtaken before it commits; the next locked read sees what it wrote."""
        record = _record(_key())
        await self._add(unit_of_work, record)
        done = record.completed(_RESULT)

        async def read_locked() -> IdempotencyRecord | None:
            async with unit_of_work() as uow:
                return await uow.idempotency.get(record.key, lock=True)

        async with unit_of_work() as first:
            assert await first.idempotency.get(record.key, lock=True) == record
            second = asyncio.create_task(read_locked())
            await asyncio.sleep(0.3)
            assert not second.done(), "a second locked read did not wait for the first"
            await first.idempotency.update(done)
            await first.commit()
        assert await asyncio.wait_for(second, 10) == done

    async def test_a_removed_key_is_gone_and_removing_it_again_is_no_error(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        record = _record(_key())
        await self._add(unit_of_work, record)
        for _ in range(2):
            async with unit_of_work() as uow:
                await uow.idempotency.remove(record.key)
                await uow.commit()
            assert await self._get(unit_of_work, record.key) is None

    async def test_writes_are_discarded_without_commit(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        record = _record(_key())
        async with unit_of_work() as uow:
            await uow.idempotency.add(record)
            assert await uow.idempotency.get(record.key) == record
        assert await self._get(unit_of_work, record.key) is None

    async def test_purge_deletes_expired_keys_only_up_to_its_limit(
        self, unit_of_work: UnitOfWorkFactory
    ) -> None:
        scope = uuid4().hex
        expired = [_record(_key(scope, value=f"old-{i}"), _PAST - _DAY) for i in range(3)]
        ending_now = _record(_key(scope, value="ends-now"), _PAST - _DAY + timedelta(minutes=1))
        kept = _record(_key(scope, value="kept"), _PAST)
        await self._add(unit_of_work, *expired, ending_now, kept)
        now = ending_now.expires_at
        async with unit_of_work() as uow:
            assert await uow.idempotency.purge(now, 2) == 2
            await uow.commit()
        async with unit_of_work() as uow:
            assert await uow.idempotency.purge(now, 100) == 2
            await uow.commit()
        for record in [*expired, ending_now]:
            assert await self._get(unit_of_work, record.key) is None
        assert await self._get(unit_of_work, kept.key) == kept
        async with unit_of_work() as uow:  # leave nothing for the next run's purge
            await uow.idempotency.remove(kept.key)
            await uow.commit()
