"""Dispatchers: claim due work under a lease and run it, up to N at once, until stopped.

The outbox's emails and the exports to generate are both queues of this kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar
from uuid import UUID

from export_resend.application.generation import (
    ClaimedExport,
    ClaimPendingExports,
    GenerateClaimedExport,
    ReleaseClaimedExports,
)
from export_resend.application.outbox import (
    ClaimDueEmails,
    ClaimedEmail,
    ReleaseClaimedEmails,
    SendClaimedEmail,
)
from export_resend.domain.ports import DeliveryNotifier, GenerationNotifier

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")


class Dispatcher(Generic[ItemT]):
    """Runs a queue's due items, up to ``concurrency`` at once.

    It claims as many due items as it has free places (``claim(limit)``, each under a
    lease), and runs each in the background (``run(item)``). It looks again at once when
    woken (``wake``) or when a run ends, and otherwise every ``poll_interval`` seconds,
    which is how it finds items queued by other processes, retries that came due and
    leases that ended. Any number of dispatchers, in any number of processes, may share
    one queue: a claim never takes what another holds.

    ``stop`` claims nothing more, lets the runs in flight finish for up to ``grace``
    seconds, then cancels the rest and gives their items back (``release(items)``). A
    failure while claiming or running is logged and never stops the dispatcher.
    """

    what, plural = "item", "items"

    def describe(self, item: ItemT) -> str:
        """How the logs name an item."""
        return self.what

    def log_context(self, item: ItemT) -> dict[str, object]:
        """The ids a log line about an item carries (as ``extra``)."""
        return {}

    def __init__(
        self,
        *,
        claim: Callable[[int], Awaitable[list[ItemT]]],
        run: Callable[[ItemT], Awaitable[object]],
        release: Callable[[Sequence[ItemT]], Awaitable[int]],
        concurrency: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        if concurrency < 1 or poll_interval <= 0:
            raise ValueError("need concurrency >= 1 and poll_interval > 0")
        self._claim = claim
        self._run_one = run
        self._release = release
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._running: dict[asyncio.Task[None], ItemT] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._claiming = False
        self._claims_started = 0
        self._drained_by = 0  # the last claim that found nothing due, with nothing in flight
        self._drained = asyncio.Condition()

    def wake(self) -> None:
        """Look for due items now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Begin claiming and running, on the running event loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name=f"export-resend-{self.plural}")

    async def idle(self) -> None:
        """Wait until a claim that began after this call found nothing due, with nothing in
        flight: everything due by then has been run, or put off until later."""
        if self._task is None:
            raise RuntimeError("the dispatcher is not running")
        since = self._claims_started
        self._wake.set()
        async with self._drained:
            await self._drained.wait_for(lambda: self._drained_by > since)

    async def stop(self, grace: float = 10.0) -> None:
        """Claim nothing more; finish the runs in flight (for at most ``grace`` seconds),
        then cancel the rest and release their items."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        if self._claiming:  # let a claim in progress finish (within the grace), so its items
            await asyncio.wait({task}, timeout=grace)  # are run or released, not left leased
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not self._running:
            return
        _, late = await asyncio.wait(set(self._running), timeout=grace)
        unfinished = [self._running[t] for t in late]
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if unfinished:
            released = await self._release(unfinished)
            log.info("stopped: %d %s given back to the queue", released, self.plural)

    async def _loop(self) -> None:
        while not self._stopping:
            if len(self._running) >= self._concurrency:
                await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
                continue
            self._wake.clear()
            free = self._concurrency - len(self._running)
            claimed = await self._claim_safely(free)
            if claimed is None:  # the store failed; look again after a pause
                await asyncio.sleep(self._poll_interval)
                continue
            for item in claimed:
                task = asyncio.create_task(self._run_safely(item))
                self._running[task] = item
            if self._stopping or len(claimed) == free:
                continue
            if not claimed and not self._running:
                async with self._drained:
                    self._drained_by = self._claims_started
                    self._drained.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _claim_safely(self, limit: int) -> list[ItemT] | None:
        self._claims_started += 1
        self._claiming = True
        try:
            return await self._claim(limit)
        except Exception:
            log.exception("claiming due %s failed; trying again shortly", self.plural)
            return None
        finally:
            self._claiming = False

    async def _run_safely(self, item: ItemT) -> None:
        try:
            await self._run_one(item)
        except Exception:  # the item stays leased, and is claimed again when its lease ends
            log.exception(
                "%s: unexpected failure", self.describe(item), extra=self.log_context(item)
            )
        finally:
            # leave the places count before waking the loop, which may run before any
            # done-callback would (Python 3.12+ resumes a waiter sooner)
            current = asyncio.current_task()
            if current is not None:
                self._running.pop(current, None)
            self._wake.set()


class DeliveryDispatcher(Dispatcher[ClaimedEmail], DeliveryNotifier):
    """Sends the outbox's due deliveries (``Dispatcher``), told of new ones in this process."""

    what, plural = "delivery", "deliveries"

    def __init__(
        self,
        *,
        claim: ClaimDueEmails | Callable[[int], Awaitable[list[ClaimedEmail]]],
        send: SendClaimedEmail,
        release: ReleaseClaimedEmails,
        concurrency: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        async def release_emails(emails: Sequence[ClaimedEmail]) -> int:
            return await release([e.delivery for e in emails])

        super().__init__(
            claim=claim,
            run=send,
            release=release_emails,
            concurrency=concurrency,
            poll_interval=poll_interval,
        )

    def describe(self, item: ClaimedEmail) -> str:
        return f"delivery {item.delivery.id}"

    def log_context(self, item: ClaimedEmail) -> dict[str, object]:
        return {"delivery_id": str(item.delivery.id), "export_id": str(item.delivery.export_id)}

    def delivery_queued(self, delivery_id: UUID) -> None:
        self.wake()


class ExportGenerator(Dispatcher[ClaimedExport], GenerationNotifier):
    """Generates the due exports (``Dispatcher``), told of new requests in this process."""

    what, plural = "export generation", "export generations"

    def __init__(
        self,
        *,
        claim: ClaimPendingExports,
        generate: GenerateClaimedExport,
        release: ReleaseClaimedExports,
        concurrency: int = 1,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(
            claim=claim,
            run=generate,
            release=release,
            concurrency=concurrency,
            poll_interval=poll_interval,
        )

    def describe(self, item: ClaimedExport) -> str:
        return f"export {item.job.export_id}"

    def log_context(self, item: ClaimedExport) -> dict[str, object]:
        return {"export_id": str(item.job.export_id)}

    def export_requested(self, export_id: UUID) -> None:
        self.wake()
