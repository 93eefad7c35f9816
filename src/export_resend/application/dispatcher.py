"""The in-process dispatcher: sends each delivery as soon as it is queued."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

from export_resend.application.send_queued_email import SendQueuedEmail
from export_resend.domain.ports import DeliveryNotifier

log = logging.getLogger(__name__)


class DeliveryDispatcher(DeliveryNotifier):
    """Runs ``SendQueuedEmail`` in the background for every delivery it is told about.

    Notices that arrive before ``start`` wait for it. ``stop`` lets the deliveries already
    noticed finish (up to ``grace`` seconds), then cancels. A failure to send one delivery
    is logged and never stops the dispatcher.
    """

    def __init__(self, *, send: SendQueuedEmail) -> None:
        self._send = send
        self._pending: asyncio.Queue[UUID] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def delivery_queued(self, delivery_id: UUID) -> None:
        self._pending.put_nowait(delivery_id)

    def start(self) -> None:
        """Begin sending, on the running event loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="export-resend-dispatcher")

    async def idle(self) -> None:
        """Wait until every delivery noticed so far has been handled."""
        await self._pending.join()

    async def stop(self, grace: float = 10.0) -> None:
        """Finish what was noticed (for at most ``grace`` seconds), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            delivery_id = await self._pending.get()
            try:
                await self._send(delivery_id)
            except Exception:
                log.exception("delivery %s: unexpected failure while sending", delivery_id)
            finally:
                self._pending.task_done()
