"""The background work of one process, started and stopped together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol


class Loop(Protocol):
    """A loop that runs in the background between ``start`` and ``stop``."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class BackgroundWork:
    """Sends the outbox (``dispatcher``), generates exports (``generator``) and sweeps
    expired exports (``sweeper``): ``running()`` starts them in that order and stops them in
    the reverse one, so that a generation finished while stopping still wakes a dispatcher.
    """

    def __init__(self, *, dispatcher: Loop, generator: Loop, sweeper: Loop) -> None:
        self._loops = (dispatcher, generator, sweeper)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run every loop for the duration of the block; each is stopped, whatever happens."""
        async with contextlib.AsyncExitStack() as stack:
            for loop in self._loops:
                loop.start()
                stack.push_async_callback(loop.stop)
            yield
