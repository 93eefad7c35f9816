"""Readiness: the database answers in time, or the service says it is not ready, in time."""

from __future__ import annotations

import asyncio
import time

import pytest

from export_resend.application.check_readiness import (
    BoundedCall,
    CheckReadiness,
    DatabaseProbe,
    NotReady,
)


class Database(DatabaseProbe):
    """A database that answers, fails, or hangs until it is let go, as told."""

    def __init__(self) -> None:
        self.pings = 0
        self.failure: Exception | None = None
        self.hanging = False
        self.let_go = asyncio.Event()

    async def ping(self) -> None:
        self.pings += 1
        if self.hanging:
            await self.let_go.wait()
        if self.failure is not None:
            raise self.failure


async def test_a_database_that_answers_is_ready() -> None:
    database = Database()
    await CheckReadiness(probe=database, timeout=1)()
    assert database.pings == 1


async def test_a_failing_database_is_not_ready_and_its_error_text_is_not_repeated() -> None:
    database = Database()
    database.failure = OSError("connect to db.internal:5432 as exports failed")
    with pytest.raises(NotReady) as raised:
        await CheckReadiness(probe=database, timeout=1)()
    assert str(raised.value) == "the database cannot be reached"


async def test_a_hanging_database_is_not_ready_within_the_timeout() -> None:
    database = Database()
    database.hanging = True
    started = time.monotonic()
    with pytest.raises(NotReady, match=r"did not answer within 0\.05 s"):
        await CheckReadiness(probe=database, timeout=0.05)()
    assert time.monotonic() - started < 1


async def test_checks_during_a_hang_share_one_ping_and_a_new_one_starts_after_it() -> None:
    pings = 0
    answered = asyncio.Event()

    async def stubborn() -> None:  # a hung connection: even its clean-up waits
        nonlocal pings
        pings += 1
        try:
            await answered.wait()
        except asyncio.CancelledError:
            await answered.wait()
            raise

    call = BoundedCall(stubborn, timeout=0.05)
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await call()
    assert pings == 1
    answered.set()
    await asyncio.sleep(0.01)  # the stubborn call ends, cancelled at last
    await call()
    assert pings == 2


async def test_a_call_that_overran_is_cancelled_and_the_next_one_starts_afresh() -> None:
    started: list[asyncio.Task[None]] = []

    async def hang() -> None:
        current = asyncio.current_task()
        assert current is not None
        started.append(current)
        await asyncio.Event().wait()

    call = BoundedCall(hang, timeout=0.01)
    with pytest.raises(TimeoutError):
        await call()
    await asyncio.sleep(0)
    assert started[0].cancelled()
    with pytest.raises(TimeoutError):
        await call()
    assert len(started) == 2
