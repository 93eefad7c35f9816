"""Readiness: the database answers in time, or the service says it is not ready, in time."""

from __future__ import annotations

import asyncio
import time

import pytest

from export_resend.adapters.worker import AsyncioBoundedCall
from export_resend.application.check_readiness import CheckReadiness, NotReady
from export_resend.domain.ports import DatabaseProbe


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


async def _check(database: DatabaseProbe, *, within: float) -> None:
    await CheckReadiness(ping=AsyncioBoundedCall(database.ping, timeout=within))()


async def test_a_database_that_answers_is_ready() -> None:
    database = Database()
    await _check(database, within=1)
    assert database.pings == 1


async def test_a_failing_database_is_not_ready_and_its_error_text_is_not_repeated() -> None:
    database = Database()
    database.failure = OSError("connect to db.internal:5432 as exports failed")
    with pytest.raises(NotReady) as raised:
        await _check(database, within=1)
    assert str(raised.value) == "the database cannot be reached"


async def test_a_hanging_database_is_not_ready_within_the_timeout() -> None:
    database = Database()
    database.hanging = True
    started = time.monotonic()
    with pytest.raises(NotReady, match=r"did not answer within 0\.05 s"):
        await _check(database, within=0.05)
    assert time.monotonic() - started < 1
