"""The contract suite of ``SeenWebhookIds``, and a state machine holding it to a dict.

Subclass the suite and provide a ``seen_ids`` fixture::

    class TestMySeenWebhookIds(SeenWebhookIdsContract):
        @pytest.fixture
        def seen_ids(self) -> SeenWebhookIds:
            return MySeenWebhookIds(...)

and the machine, for random sequences of calls over moving time::

    class MySeenWebhookIdsMachine(SeenWebhookIdsMachine):
        async def open_seen_ids(self) -> SeenWebhookIds:
            return MySeenWebhookIds(...)

    TestMySeenWebhookIdsMachine = MySeenWebhookIdsMachine.TestCase

Every test and run uses ids of its own, so a store shared with others does not upset it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from export_resend.domain.delivery_events import SeenWebhookIds

T = TypeVar("T")

_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_WINDOW = timedelta(minutes=5)
_TICK = timedelta(microseconds=1)


def _fresh_id() -> str:
    return f"msg_{uuid4().hex}"


class SeenWebhookIdsContract:
    """What every ``SeenWebhookIds`` must do."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def seen_ids(self) -> SeenWebhookIds:
        raise NotImplementedError("provide the seen_ids fixture")

    async def test_an_id_is_seen_for_the_first_time_once(self, seen_ids: SeenWebhookIds) -> None:
        webhook_id = _fresh_id()
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        assert not await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        assert not await seen_ids.first_seen(webhook_id, _T0 + _WINDOW - _TICK, _T0 + _WINDOW)

    async def test_ids_are_compared_exactly(self, seen_ids: SeenWebhookIds) -> None:
        webhook_id = _fresh_id()
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        for other in (webhook_id.upper(), f"{webhook_id} ", webhook_id[:-1]):
            assert await seen_ids.first_seen(other, _T0, _T0 + _WINDOW), other

    async def test_an_id_whose_end_has_passed_is_first_seen_again_with_a_new_end(
        self, seen_ids: SeenWebhookIds
    ) -> None:
        webhook_id = _fresh_id()
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        later = _T0 + _WINDOW
        assert await seen_ids.first_seen(webhook_id, later, later + _WINDOW)
        assert not await seen_ids.first_seen(webhook_id, later + _WINDOW - _TICK, later)

    async def test_a_refused_call_does_not_move_the_end(self, seen_ids: SeenWebhookIds) -> None:
        webhook_id = _fresh_id()
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        assert not await seen_ids.first_seen(webhook_id, _T0, _T0 + 10 * _WINDOW)
        assert await seen_ids.first_seen(webhook_id, _T0 + _WINDOW, _T0 + 2 * _WINDOW)

    async def test_a_forgotten_id_is_first_seen_again(self, seen_ids: SeenWebhookIds) -> None:
        webhook_id = _fresh_id()
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        await seen_ids.forget(webhook_id)
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        assert not await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)

    async def test_forgetting_an_unknown_id_does_nothing(self, seen_ids: SeenWebhookIds) -> None:
        await seen_ids.forget(_fresh_id())
        webhook_id = _fresh_id()
        assert await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)
        await seen_ids.forget(_fresh_id())
        assert not await seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW)

    async def test_of_concurrent_calls_with_one_id_exactly_one_is_first(
        self, seen_ids: SeenWebhookIds
    ) -> None:
        webhook_id = _fresh_id()
        answers = await asyncio.gather(
            *(seen_ids.first_seen(webhook_id, _T0, _T0 + _WINDOW) for _ in range(20))
        )
        assert sorted(answers) == [False] * 19 + [True]

    async def test_long_ids_of_any_visible_character_are_kept_whole(
        self, seen_ids: SeenWebhookIds
    ) -> None:
        visible = "".join(chr(c) for c in range(0x21, 0x7F))
        long_id = (_fresh_id() + visible + visible + visible)[:256]
        twin = long_id[:-1] + ("A" if long_id[-1] != "A" else "B")
        assert await seen_ids.first_seen(long_id, _T0, _T0 + _WINDOW)
        assert await seen_ids.first_seen(twin, _T0, _T0 + _WINDOW)
        assert not await seen_ids.first_seen(long_id, _T0, _T0 + _WINDOW)


_IDS = st.integers(0, 4)
_SPANS = st.timedeltas(timedelta(0), timedelta(minutes=20))


class SeenWebhookIdsMachine(RuleBasedStateMachine):
    """Random ``first_seen``, ``forget`` and moves of time, each checked against a dict of ids
    and their ends. Implement ``open_seen_ids`` (and ``close``); run ``YourMachine.TestCase``.
    Each run owns an event loop, on which the adapter is made and used."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parents = [
            base
            for base in cls.__mro__[1:]
            if issubclass(base, SeenWebhookIdsMachine) and base is not SeenWebhookIdsMachine
        ]
        cls.TestCase.settings = (
            parents[0].TestCase.settings
            if parents
            else settings(max_examples=25, stateful_step_count=30, deadline=None)
        )

    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.new_event_loop()
        try:
            self.seen_ids = self._run(self.open_seen_ids())
        except BaseException:
            self._loop.close()
            raise
        self.prefix = _fresh_id()
        self.now = _T0
        self.model: dict[str, datetime] = {}

    async def open_seen_ids(self) -> SeenWebhookIds:
        """Make the adapter under test, on this machine's event loop, once per run."""
        raise NotImplementedError("implement open_seen_ids in a subclass")

    async def close(self) -> None:
        """Release what ``open_seen_ids`` opened; called once at the end of each run."""

    def teardown(self) -> None:
        try:
            self._run(self.close())
        finally:
            self._loop.close()

    @rule(number=_IDS, keep_for=_SPANS)
    def first_seen(self, number: int, keep_for: timedelta) -> None:
        """True exactly when the id is not kept with an end after now; then kept anew."""
        webhook_id = f"{self.prefix}-{number}"
        end = self.model.get(webhook_id)
        expected = end is None or end <= self.now
        answer = self._run(self.seen_ids.first_seen(webhook_id, self.now, self.now + keep_for))
        assert answer is expected, f"first_seen({webhook_id}) at {self.now}: {answer}"
        if expected:
            self.model[webhook_id] = self.now + keep_for

    @rule(number=_IDS)
    def forget(self, number: int) -> None:
        """A forgotten id is first seen again on the next call."""
        webhook_id = f"{self.prefix}-{number}"
        self._run(self.seen_ids.forget(webhook_id))
        self.model.pop(webhook_id, None)

    @rule(step=st.timedeltas(timedelta(0), timedelta(minutes=10)))
    def time_passes(self, step: timedelta) -> None:
        self.now += step

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(work)
