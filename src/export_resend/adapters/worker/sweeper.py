"""The expiry sweep, run again and again in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class ExpirySweeper:
    """Runs ``sweep`` (``ExpireExports``) every ``interval`` seconds until stopped, then
    ``purge`` (the idempotency keys past retention) if given, whether or not the expiry
    failed; a failure of either is logged and the next sweep runs as planned."""

    def __init__(
        self,
        sweep: Callable[[], Awaitable[int]],
        *,
        interval: float,
        purge: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._sweep = sweep
        self._purge = purge
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sweeping, on the running event loop: once now, then every ``interval``."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="export-resend-expiry")

    async def stop(self) -> None:
        """Stop sweeping; a sweep in progress is cancelled (it resumes at the next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                if count := await self._sweep():
                    log.info("%d exports expired; their files are deleted", count)
            except Exception:
                log.exception("the expiry sweep failed; trying again in %s s", self._interval)
            # on its own: an expiry that fails every time (a file store refusing one delete)
            # must not keep the idempotency keys from ever being deleted
            try:
                if self._purge is not None and (count := await self._purge()):
                    log.info("%d idempotency keys past retention deleted", count)
            except Exception:
                log.exception(
                    "the idempotency key purge failed; trying again in %s s", self._interval
                )
            await asyncio.sleep(self._interval)
