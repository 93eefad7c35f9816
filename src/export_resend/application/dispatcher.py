"""The dispatcher: claims due deliveries from the outbox and sends them, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

from export_resend.application.outbox import (
    ClaimDueEmails,
    ClaimedEmail,
    ReleaseClaimedEmails,
    SendClaimedEmail,
)
from export_resend.domain.delivery import Delivery
from export_resend.domain.ports import DeliveryNotifier

log = logging.getLogger(__name__)


class DeliveryDispatcher(DeliveryNotifier):
    """Sends the outbox's due deliveries, up to ``concurrency`` at once.

    It claims as many due deliveries as it has free places, each under a lease, and sends
    them in the background. It looks again at once when told of a delivery queued in this
    process (``delivery_queued``) or when a send ends, and otherwise every
    ``poll_interval`` seconds, which is how it finds rows queued by other processes,
    retries that came due and leases that ended. Any number of dispatchers, in any number
    of processes, may share one outbox: a claim never takes what another holds.

    ``stop`` claims nothing more, lets the sends in flight finish for up to ``grace``
    seconds, then cancels the rest and gives their deliveries back to the queue. A failure
    while claiming or sending is logged and never stops the dispatcher.
    """

    def __init__(
        self,
        *,
        claim: ClaimDueEmails,
        send: SendClaimedEmail,
        release: ReleaseClaimedEmails,
        concurrency: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        if concurrency < 1 or poll_interval <= 0:
            raise ValueError("need concurrency >= 1 and poll_interval > 0")
        self._claim = claim
        self._send = send
        self._release = release
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._sending: dict[asyncio.Task[None], Delivery] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._claiming = False
        self._claims_started = 0
        self._drained_by = 0  # the last claim that found nothing due, with nothing in flight
        self._drained = asyncio.Condition()

    def delivery_queued(self, delivery_id: UUID) -> None:
        self._wake.set()

    def start(self) -> None:
        """Begin claiming and sending, on the running event loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="export-resend-dispatcher")

    async def idle(self) -> None:
        """Wait until a claim that began after this call found nothing due, with no send in
        flight: everything due by then has been sent, retried later, or is DEAD."""
        if self._task is None:
            raise RuntimeError("the dispatcher is not running")
        since = self._claims_started
        self._wake.set()
        async with self._drained:
            await self._drained.wait_for(lambda: self._drained_by > since)

    async def stop(self, grace: float = 10.0) -> None:
        """Claim nothing more; finish the sends in flight (for at most ``grace`` seconds),
        then cancel the rest and release their deliveries."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        if self._claiming:  # let a claim in progress finish (within the grace), so its rows
            await asyncio.wait({task}, timeout=grace)  # are sent or released, not left leased
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not self._sending:
            return
        _, late = await asyncio.wait(set(self._sending), timeout=grace)
        unsent = [self._sending[t] for t in late]
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if unsent:
            released = await self._release(unsent)
            log.info("dispatcher stopped: %d deliveries given back to the queue", released)

    async def _run(self) -> None:
        while not self._stopping:
            if len(self._sending) >= self._concurrency:
                await asyncio.wait(set(self._sending), return_when=asyncio.FIRST_COMPLETED)
                continue
            self._wake.clear()
            free = self._concurrency - len(self._sending)
            claimed = await self._claim_safely(free)
            if claimed is None:  # the store failed; look again after a pause
                await asyncio.sleep(self._poll_interval)
                continue
            for email in claimed:
                task = asyncio.create_task(self._send_one(email))
                self._sending[task] = email.delivery
            if self._stopping or len(claimed) == free:
                continue
            if not claimed and not self._sending:
                async with self._drained:
                    self._drained_by = self._claims_started
                    self._drained.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _claim_safely(self, limit: int) -> list[ClaimedEmail] | None:
        self._claims_started += 1
        self._claiming = True
        try:
            return await self._claim(limit)
        except Exception:
            log.exception("claiming due deliveries failed; trying again shortly")
            return None
        finally:
            self._claiming = False

    async def _send_one(self, email: ClaimedEmail) -> None:
        try:
            await self._send(email)
        except Exception:  # the row stays SENDING, and is claimed again when its lease ends
            log.exception("delivery %s: unexpected failure while sending", email.delivery.id)
        finally:
            # leave the places count before waking the loop, which may run before any
            # done-callback would (Python 3.12+ resumes a waiter sooner)
            current = asyncio.current_task()
            if current is not None:
                self._sending.pop(current, None)
            self._wake.set()
