"""Whether the service can serve now: its database answers, within a time limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from export_resend.application.errors import ServiceNotRunning
from export_resend.domain.ports import DatabaseProbe

__all__ = ["BoundedCall", "CheckReadiness", "DatabaseProbe", "NotReady"]
"""``DatabaseProbe`` is a port (``domain.ports``), re-exported where it was first published."""

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotReady(Exception):
    """A dependency the service needs did not answer in time, or failed."""


class BoundedCall(Generic[T]):
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


class CheckReadiness:
    """Ping the database, waiting at most ``timeout`` seconds (one ping at a time).

    Raises ``NotReady`` when the database failed or did not answer in time; the reason
    says which, never what the driver said (it may name hosts and users).
    """

    def __init__(self, *, probe: DatabaseProbe, timeout: float = 2.0) -> None:
        self._ping = BoundedCall(probe.ping, timeout=timeout)
        self._timeout = timeout

    async def __call__(self) -> None:
        try:
            await self._ping()
        except ServiceNotRunning:
            raise
        except TimeoutError:
            log.warning("not ready: the database did not answer within %g s", self._timeout)
            raise NotReady(f"the database did not answer within {self._timeout:g} s") from None
        except Exception as exc:
            log.warning("not ready: the database failed (%s)", type(exc).__name__)
            raise NotReady("the database cannot be reached") from None
