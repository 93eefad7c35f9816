"""The seen-webhook-ids contract and machine pass the in-memory adapter and fail broken ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from export_resend.adapters.memory import InMemorySeenWebhookIds
from export_resend.domain.delivery_events import SeenWebhookIds
from export_resend.testing import SeenWebhookIdsContract, SeenWebhookIdsMachine


class TestInMemorySeenWebhookIds(SeenWebhookIdsContract):
    @pytest.fixture
    def seen_ids(self) -> SeenWebhookIds:
        return InMemorySeenWebhookIds()


class InMemorySeenWebhookIdsMachine(SeenWebhookIdsMachine):
    async def open_seen_ids(self) -> SeenWebhookIds:
        return InMemorySeenWebhookIds()


TestInMemorySeenWebhookIdsMachine = InMemorySeenWebhookIdsMachine.TestCase


class ForgetfulSeenWebhookIds(InMemorySeenWebhookIds):
    """Forgets an id at once: every replay passes."""

    async def first_seen(self, webhook_id: str, now: datetime, until: datetime) -> bool:
        return True


class ExtendingSeenWebhookIds(InMemorySeenWebhookIds):
    """Moves the end of an id on every call, refused or not: an id seen often never ends."""

    async def first_seen(self, webhook_id: str, now: datetime, until: datetime) -> bool:
        first = await super().first_seen(webhook_id, now, until)
        if not first:
            await self.forget(webhook_id)
            await super().first_seen(webhook_id, now, until)
        return first


class ForgetfulMachine(SeenWebhookIdsMachine):
    async def open_seen_ids(self) -> SeenWebhookIds:
        return ForgetfulSeenWebhookIds()


class ExtendingMachine(SeenWebhookIdsMachine):
    async def open_seen_ids(self) -> SeenWebhookIds:
        return ExtendingSeenWebhookIds()


HUNTING = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    report_multiple_bugs=False,
)


@pytest.mark.parametrize("machine", [ForgetfulMachine, ExtendingMachine])
def test_the_machine_catches_a_store_that_breaks_the_contract(
    machine: type[SeenWebhookIdsMachine],
) -> None:
    with pytest.raises(AssertionError, match=r"first_seen\(.*\) at "):
        run_state_machine_as_test(machine, settings=HUNTING)


@pytest.mark.parametrize("broken", [ForgetfulSeenWebhookIds, ExtendingSeenWebhookIds])
async def test_the_contract_catches_them_too(broken: type[InMemorySeenWebhookIds]) -> None:
    suite = SeenWebhookIdsContract()
    checks = [
        suite.test_an_id_is_seen_for_the_first_time_once,
        suite.test_a_refused_call_does_not_move_the_end,
    ]
    failures = 0
    for check in checks:
        try:
            await check(broken())
        except AssertionError:
            failures += 1
    assert failures >= 1


async def test_the_memory_store_drops_ids_whose_end_has_passed() -> None:
    seen = InMemorySeenWebhookIds()
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(100):
        assert await seen.first_seen(f"msg_{n}", t0, t0 + timedelta(minutes=10))
    assert len(seen) == 100
    assert await seen.first_seen("msg_late", t0 + timedelta(minutes=10), t0 + timedelta(hours=1))
    assert len(seen) == 1
