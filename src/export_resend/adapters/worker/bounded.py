"""Calls bounded in time, one at a time, on asyncio tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from export_resend.domain.ports import BoundedCall

T = TypeVar("T")


class AsyncioBoundedCall(BoundedCall[T]):
    """Runs ``call`` at most once at a time, and waits for it at most ``timeout`` seconds.

    A call that overruns raises ``TimeoutError`` for its caller, is cancelled and left to
    end in the background; until it has, later callers wait for that same call instead of
    starting another. So a database that hangs holds at most one connection for this, and
    every caller has its answer within ``timeout``.
    """

    def __init__(self, call: Callable[[], Awaitable[T]], *, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self._call = call
        self._timeout = timeout
        self._task: asyncio.Task[T] | None = None

    @property
    def timeout(self) -> float:
        return self._timeout

    async def __call__(self) -> T:
        task = self._task
        if task is None or task.done():
            task = self._task = asyncio.ensure_future(self._call())
            task.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if not done or task.cancelled():  # cancelled: an earlier caller's call that overran
            task.cancel()  # not awaited: a hung connection may not even let it end
            raise TimeoutError(f"no answer within {self._timeout:g} s")
        return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # whoever timed out no longer looks at the outcome: mark it seen
    if not task.cancelled():
        task.exception()
