"""Counting nothing: the default metrics of every use case and adapter that reports any.

The metrics ports (``DeliveryMetrics``, ``GenerationMetrics``, ``RequestMetrics``,
``MetricsExposition``) and their vocabulary live in ``domain.ports`` with every other port;
they are re-exported here, where they were first published.
"""

from __future__ import annotations

from collections.abc import Sequence

from export_resend.domain.delivery import DeliveryStatus, RecipientResult
from export_resend.domain.export import ExportStatus
from export_resend.domain.ports import (
    DeliveryMetrics,
    Exposition,
    GenerationMetrics,
    MetricsExposition,
    QueueReading,
    RequestMetrics,
    SendResult,
)

__all__ = [
    "NO_METRICS",
    "DeliveryMetrics",
    "Exposition",
    "GenerationMetrics",
    "MetricsExposition",
    "NoMetrics",
    "QueueReading",
    "RequestMetrics",
    "SendResult",
]


class NoMetrics(DeliveryMetrics, GenerationMetrics, RequestMetrics):
    """Counts nothing: the default of every use case that reports metrics."""

    def send_attempted(
        self, result: SendResult, seconds: float, recipients: Sequence[RecipientResult]
    ) -> None:
        pass

    def delivery_recorded(self, status: DeliveryStatus) -> None:
        pass

    def generation_recorded(self, status: ExportStatus, seconds: float) -> None:
        pass

    def request_handled(self, method: str, route: str | None, status: int, seconds: float) -> None:
        pass

    def resend_answered(self, outcome: str) -> None:
        pass


NO_METRICS = NoMetrics()
