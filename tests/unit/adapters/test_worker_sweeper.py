"""The sweep loop: expiry, then the idempotency keys past retention, again and again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from export_resend.adapters.worker import ExpirySweeper


class Counting:
    def __init__(self, fail_first: bool = False, fail_always: bool = False) -> None:
        self.calls = 0
        self.target = 0
        self.reached = asyncio.Event()
        self._fail_first = fail_first
        self._fail_always = fail_always

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls >= self.target:
            self.reached.set()
        if self._fail_always or (self._fail_first and self.calls == 1):
            raise RuntimeError("database away")
        return 1


async def _run_until(sweeper: ExpirySweeper, done: Counting, calls: int) -> None:
    done.target = calls
    sweeper.start()
    try:
        await asyncio.wait_for(done.reached.wait(), 5)
    finally:
        await sweeper.stop()


async def test_each_sweep_expires_then_purges(caplog: pytest.LogCaptureFixture) -> None:
    expire, purge = Counting(), Counting()
    caplog.set_level(logging.INFO)
    await _run_until(ExpirySweeper(expire, purge=purge, interval=0.001), purge, 3)
    assert purge.calls >= 3
    assert expire.calls >= purge.calls
    assert "1 idempotency keys past retention deleted" in caplog.text


async def test_a_failed_sweep_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expire, purge = Counting(fail_first=True), Counting()
    await _run_until(ExpirySweeper(expire, purge=purge, interval=0.001), purge, 2)
    assert "the expiry sweep failed" in caplog.text
    assert expire.calls >= 2


async def test_keys_are_purged_even_when_every_expiry_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expire, purge = Counting(fail_always=True), Counting()
    await _run_until(ExpirySweeper(expire, purge=purge, interval=0.001), purge, 2)
    assert purge.calls >= 2
    assert "the expiry sweep failed" in caplog.text


async def test_a_failed_purge_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expire, purge = Counting(), Counting(fail_first=True)
    await _run_until(ExpirySweeper(expire, purge=purge, interval=0.001), purge, 2)
    assert "the idempotency key purge failed" in caplog.text


async def test_stop_ends_the_loop() -> None:
    expire = Counting()
    sweeper = ExpirySweeper(expire, interval=0.001)
    await _run_until(sweeper, expire, 2)
    calls = expire.calls
    await asyncio.sleep(0.01)
    assert expire.calls == calls
