"""A bounded call: one at a time, answered within its timeout, a hung one left behind."""

from __future__ import annotations

import asyncio

import pytest

from export_resend.adapters.worker import AsyncioBoundedCall


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

    call = AsyncioBoundedCall(stubborn, timeout=0.05)
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

    call = AsyncioBoundedCall(hang, timeout=0.01)
    with pytest.raises(TimeoutError):
        await call()
    await asyncio.sleep(0)
    assert started[0].cancelled()
    with pytest.raises(TimeoutError):
        await call()
    assert len(started) == 2
