"""Idempotency keys in the application: begin, record with the effect, release, purge."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from export_resend.adapters.memory import InMemoryStore, InMemoryUnitOfWork
from export_resend.application.errors import FieldIssue
from export_resend.application.idempotency import (
    BeginIdempotentRequest,
    Claim,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ReleaseIdempotencyKey,
    Replay,
    fingerprint,
)
from export_resend.application.request_export import ExportRequestSummary
from export_resend.application.resend_export_email import ResendSummary
from export_resend.domain.delivery import DeliveryStatus
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.idempotency import IdempotencyKey
from export_resend.domain.ports import UnitOfWork
from export_resend.domain.recipients import Recipients
from export_resend.testing import ManualClock
from export_resend.testing.samples import sample_export
from tests.factories import NOW

LEASE = timedelta(seconds=60)
OK = {"export_id": "0b6a3e52-7c1f-4d8e-9a35-2f4c6b8d1e07", "ok": True}


class Keys:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.clock = ManualClock(NOW)
        self.begin = BeginIdempotentRequest(
            unit_of_work=self.unit_of_work,
            clock=self.clock,
            retention=timedelta(hours=24),
            lease=LEASE,
        )
        self.release = ReleaseIdempotencyKey(unit_of_work=self.unit_of_work)

    def unit_of_work(self) -> UnitOfWork:
        return InMemoryUnitOfWork(self.store)

    async def succeed(self, claim: Claim) -> None:
        """The use case's transaction: an effect, and its result recorded with it."""
        async with self.unit_of_work() as uow:
            await uow.exports.add(sample_export())
            await claim.record(uow, OK)
            await uow.commit()


KEY = IdempotencyKey("digest", "POST /v1/x", "k")


@pytest.fixture
def keys() -> Keys:
    return Keys()


async def test_a_new_key_is_claimed_and_its_success_replayed(keys: Keys) -> None:
    claim = await keys.begin(KEY, fingerprint({"a": 1}))
    assert isinstance(claim, Claim)
    await keys.succeed(claim)
    assert await keys.begin(KEY, fingerprint({"a": 1})) == Replay(OK)


async def test_another_body_is_refused_while_in_flight_and_after(keys: Keys) -> None:
    claim = await keys.begin(KEY, fingerprint({"a": 1}))
    assert isinstance(claim, Claim)
    with pytest.raises(IdempotencyKeyReused):
        await keys.begin(KEY, fingerprint({"a": 2}))
    await keys.succeed(claim)
    with pytest.raises(IdempotencyKeyReused):
        await keys.begin(KEY, fingerprint({"a": 2}))


async def test_two_first_uses_at_once_claim_once(keys: Keys) -> None:
    outcomes = await asyncio.gather(
        *(keys.begin(KEY, fingerprint(None)) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(o, Claim) for o in outcomes) == 1
    assert sum(isinstance(o, IdempotencyKeyInUse) for o in outcomes) == 4


async def test_a_released_key_runs_again(keys: Keys) -> None:
    claim = await keys.begin(KEY, fingerprint(None))
    assert isinstance(claim, Claim)
    await keys.release(claim)
    assert isinstance(await keys.begin(KEY, fingerprint({"other": "body"})), Claim)


async def test_a_holder_that_lost_its_lease_records_nothing_and_its_effect_rolls_back(
    keys: Keys,
) -> None:
    stale = await keys.begin(KEY, fingerprint(None))
    keys.clock.advance(LEASE)
    fresh = await keys.begin(KEY, fingerprint(None))
    assert isinstance(stale, Claim)
    assert isinstance(fresh, Claim)

    with pytest.raises(IdempotencyKeyInUse):
        await keys.succeed(stale)
    await keys.release(stale)  # not its key any more: nothing happens

    assert keys.store.exports == {}
    await keys.succeed(fresh)
    assert await keys.begin(KEY, fingerprint(None)) == Replay(OK)


async def test_a_key_past_retention_starts_afresh(keys: Keys) -> None:
    claim = await keys.begin(KEY, fingerprint(None))
    assert isinstance(claim, Claim)
    await keys.succeed(claim)
    keys.clock.advance(timedelta(hours=24))
    assert isinstance(await keys.begin(KEY, fingerprint({"new": True})), Claim)


def test_the_fingerprint_ignores_spacing_and_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": "1"})
    assert fingerprint(None) != fingerprint({})


async def test_a_claim_is_unique_per_request(keys: Keys) -> None:
    first = await keys.begin(KEY, fingerprint(None))
    other = await keys.begin(IdempotencyKey("digest", "POST /v1/y", "k"), fingerprint(None))
    assert isinstance(first, Claim)
    assert isinstance(other, Claim)
    assert first.lease_id != other.lease_id


def test_a_summary_recorded_as_json_comes_back_equal() -> None:
    """What a use case records goes through a JSON column and back: nothing is lost."""
    resent = ResendSummary(
        export_id=uuid4(),
        export_type=ExportType.SUPPLIER_PAYOUTS,
        recipients=Recipients("olivia@acme.example.com", ("ceo@acme.example.com",)),
        delivery_id=uuid4(),
        delivery_status=DeliveryStatus.QUEUED,
        queued_at=datetime(2026, 1, 15, 9, 30, 0, 123, tzinfo=UTC),
        warnings=(FieldIssue("CC_DUPLICATE_REMOVED", "originalCc[1]", "café appears"),),
    )
    queued = ExportRequestSummary(
        export_id=uuid4(),
        export_type=ExportType.TRANSACTION_EVENTS,
        status=ExportStatus.PENDING,
        requested_at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
        cc=(),
        warnings=(),
    )
    assert ResendSummary.from_data(json.loads(json.dumps(resent.as_data()))) == resent
    assert ExportRequestSummary.from_data(json.loads(json.dumps(queued.as_data()))) == queued
