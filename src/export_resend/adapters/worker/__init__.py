"""The in-process worker, on asyncio: the inbound adapter that drives the background use cases
(claim and send, claim and generate, expire), with the notifiers that wake it, and the bounded
calls that readiness and metrics make."""

from export_resend.adapters.worker.background import BackgroundWork
from export_resend.adapters.worker.bounded import AsyncioBoundedCall
from export_resend.adapters.worker.dispatcher import (
    DeliveryDispatcher,
    Dispatcher,
    ExportGenerator,
)
from export_resend.adapters.worker.sweeper import ExpirySweeper

__all__ = [
    "AsyncioBoundedCall",
    "BackgroundWork",
    "DeliveryDispatcher",
    "Dispatcher",
    "ExpirySweeper",
    "ExportGenerator",
]
