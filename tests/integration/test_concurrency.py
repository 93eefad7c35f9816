"""Resends and expiries at the same moment, on real databases with real connections, through
every SQL package."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import pytest

from export_resend.adapters.sql import Database
from export_resend.application.resend_export_email import (
    ResendExportEmail,
    ResendExportEmailCommand,
)
from export_resend.domain.delivery import Delivery, DeliveryKind, ResendLimit
from export_resend.domain.errors import ExportNotReady, ResendRateLimited
from export_resend.domain.export import Export, ExportStatus
from export_resend.domain.ports import ConcurrentUpdate
from export_resend.domain.recipients import Recipients
from export_resend.testing import ManualClock
from tests.conftest import Sql, units_of_work
from tests.factories import NOW, caller, export

OLIVIA = caller("olivia", "acme")
BLOCKED = 0.3  # long enough for an unblocked statement to finish many times over


class Notices:
    def __init__(self) -> None:
        self.ids: list[UUID] = []

    def delivery_queued(self, delivery_id: UUID) -> None:
        self.ids.append(delivery_id)


def _resend(store: Sql, clock: ManualClock, per_hour: int = 100) -> ResendExportEmail:
    return ResendExportEmail(
        unit_of_work=store.unit_of_work,
        clock=clock,
        notifier=Notices(),
        message_id_domain="example.com",
        limit=ResendLimit(per_hour),
    )


async def _stored(store: Sql, target: Export) -> Export:
    async with store.unit_of_work() as uow:
        await uow.exports.add(target)
        await uow.commit()
    return target


async def _deliveries(store: Sql, export_id: UUID) -> list[Delivery]:
    async with store.unit_of_work() as uow:
        return list(await uow.deliveries.list_for_export(export_id))


async def _expire(store: Sql, export_id: UUID) -> Export:
    async with store.unit_of_work() as uow:
        current = await uow.exports.get(export_id)
        assert current is not None
        assert current.expires_at is not None
        expired = await uow.exports.update(current.expire(current.expires_at))
        await uow.commit()
    return expired


@pytest.fixture(params=["sqlalchemy", "asyncpg"])
async def postgres(postgres_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Sql]:
    database = Database(postgres_url, pool_size=4)
    yield Sql(database, units_of_work(database, request.param))
    await database.dispose()


async def test_two_resends_at_the_same_moment_both_succeed(sql: Sql) -> None:
    target = await _stored(sql, export(OLIVIA))
    resend = _resend(sql, ManualClock(NOW))
    command = ResendExportEmailCommand(export_id=target.id)
    receipts = await asyncio.gather(*(resend(OLIVIA, command) for _ in range(2)))
    stored = await _deliveries(sql, target.id)
    assert sorted(d.id for d in stored) == sorted(r.delivery.id for r in receipts)


async def test_many_resends_at_once_all_commit(postgres: Sql) -> None:
    target = await _stored(postgres, export(OLIVIA))
    resend = _resend(postgres, ManualClock(NOW))
    command = ResendExportEmailCommand(export_id=target.id)
    await asyncio.gather(*(resend(OLIVIA, command) for _ in range(8)))
    assert len(await _deliveries(postgres, target.id)) == 8


async def test_resends_at_once_beyond_the_limit_are_refused_not_counted_twice(
    sql: Sql,
) -> None:
    store = sql
    target = await _stored(store, export(OLIVIA))
    resend = _resend(store, ManualClock(NOW), per_hour=5)
    command = ResendExportEmailCommand(export_id=target.id)
    outcomes = await asyncio.gather(
        *(resend(OLIVIA, command) for _ in range(12)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, ResendRateLimited)]
    assert len(refused) == 7, outcomes
    assert all(r.retry_after_seconds == 3600 for r in refused)
    assert len(await _deliveries(store, target.id)) == 5


async def test_a_resend_that_waited_for_the_lock_counts_from_when_it_got_it(
    sql: Sql,
) -> None:
    """Another replica's resend that read its clock later but took the export's lock first
    is counted from the moment the waiting one reads: never ahead of it, so Retry-After
    never exceeds the hour (it was 3601 now and then with two serve processes)."""
    target = await _stored(sql, export(OLIVIA))
    clock = ManualClock(NOW)
    resend = _resend(sql, clock, per_hour=1)
    async with sql.unit_of_work() as other_replica:
        assert await other_replica.exports.get(target.id, lock=True) is not None
        waiting = asyncio.create_task(resend(OLIVIA, ResendExportEmailCommand(export_id=target.id)))
        await asyncio.sleep(BLOCKED)
        assert not waiting.done()  # held back by the lock
        clock.advance(timedelta(minutes=10))
        await other_replica.deliveries.add(
            Delivery.queue(
                target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email), clock.now(), "x.io"
            )
        )
        await other_replica.commit()
    with pytest.raises(ResendRateLimited) as refused:
        await asyncio.wait_for(waiting, 10)
    assert refused.value.retry_after_seconds == 3600


async def test_an_expiry_waits_for_a_resend_in_progress(postgres: Sql) -> None:
    target = await _stored(postgres, export(OLIVIA))
    async with postgres.unit_of_work() as resend:
        read = await resend.exports.get(target.id, lock=True)
        assert read is not None
        expiry = asyncio.create_task(_expire(postgres, target.id))
        await asyncio.sleep(BLOCKED)
        assert not expiry.done()  # the lock holds the expiry back
        delivery = Delivery.queue(
            target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email), NOW, "example.com"
        )
        await resend.deliveries.add(delivery)
        await resend.commit()
    expired = await asyncio.wait_for(expiry, 10)
    assert expired.status is ExportStatus.EXPIRED
    assert [d.id for d in await _deliveries(postgres, target.id)] == [delivery.id]


async def test_a_resend_waits_for_an_expiry_in_progress_and_then_refuses(
    postgres: Sql,
) -> None:
    # the sweeper's clock says the export has expired; the API node's is a moment behind
    target = await _stored(postgres, export(OLIVIA))
    assert target.expires_at is not None
    resend = _resend(postgres, ManualClock(target.expires_at - timedelta(seconds=1)))
    async with postgres.unit_of_work() as sweeper:
        current = await sweeper.exports.get(target.id)
        assert current is not None
        await sweeper.exports.update(current.expire(target.expires_at))
        attempt = asyncio.create_task(resend(OLIVIA, ResendExportEmailCommand(export_id=target.id)))
        await asyncio.sleep(BLOCKED)
        assert not attempt.done()  # waiting to read the export it must lock
        await sweeper.commit()
    with pytest.raises(ExportNotReady) as refused:
        await asyncio.wait_for(attempt, 10)
    assert refused.value.status is ExportStatus.EXPIRED
    assert await _deliveries(postgres, target.id) == []


async def test_without_the_lock_the_same_race_leaves_a_delivery_for_an_expired_export(
    postgres: Sql,
) -> None:
    # the control for the test above: an unlocked read is what the lock protects against
    target = await _stored(postgres, export(OLIVIA))
    assert target.expires_at is not None
    async with postgres.unit_of_work() as sweeper:
        current = await sweeper.exports.get(target.id)
        assert current is not None
        await sweeper.exports.update(current.expire(target.expires_at))
        async with postgres.unit_of_work() as careless:
            read = await careless.exports.get(target.id)  # no lock: does not wait
            assert read is not None
            assert read.status is ExportStatus.READY
            await sweeper.commit()
            await careless.deliveries.add(
                Delivery.queue(
                    target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email), NOW, "x.io"
                )
            )
            await careless.commit()
    async with postgres.unit_of_work() as uow:
        final = await uow.exports.get(target.id)
    assert final is not None
    assert final.status is ExportStatus.EXPIRED
    assert len(await _deliveries(postgres, target.id)) == 1


async def test_of_two_sweepers_that_read_together_the_second_is_refused(
    postgres: Sql,
) -> None:
    target = await _stored(postgres, export(OLIVIA))
    assert target.expires_at is not None
    async with postgres.unit_of_work() as first, postgres.unit_of_work() as second:
        read_first = await first.exports.get(target.id)
        read_second = await second.exports.get(target.id)
        assert read_first is not None
        assert read_second is not None
        await first.exports.update(read_first.expire(target.expires_at))
        late = asyncio.create_task(second.exports.update(read_second.expire(target.expires_at)))
        await asyncio.sleep(BLOCKED)
        assert not late.done()  # waits for the first sweeper's row lock
        await first.commit()
        with pytest.raises(ConcurrentUpdate):
            await asyncio.wait_for(late, 10)
    async with postgres.unit_of_work() as uow:
        final = await uow.exports.get(target.id)
    assert final is not None
    assert final.version == target.version + 1
