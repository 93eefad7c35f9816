"""Every metric of the service, counted with prometheus-client and rendered for a scrape."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from export_resend.domain.delivery import DeliveryStatus, RecipientOutcome, RecipientResult
from export_resend.domain.export import ExportStatus
from export_resend.domain.ports import (
    Backlog,
    DeliveryMetrics,
    Exposition,
    GenerationMetrics,
    MetricsExposition,
    QueueReading,
    RequestMetrics,
    SendResult,
)

_PREFIX = "export_resend"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SEND = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_GENERATION = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class PrometheusMetrics(DeliveryMetrics, GenerationMetrics, RequestMetrics, MetricsExposition):
    """Counts what the ports report, in ``registry`` (a new one by default, never the
    process-wide one: two services in one process, or two tests, never share counts).

    Label values are bounded: routes are path templates (``unmatched`` when none matched),
    methods are the standard ones (``other`` otherwise), outcomes are problem codes.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._resends = Counter(
            f"{_PREFIX}_resend_requests",
            "Resend requests answered, by outcome: accepted, replayed, or the problem code.",
            ["outcome"],
            registry=r,
        )
        self._requests = Counter(
            f"{_PREFIX}_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self._request_seconds = Histogram(
            f"{_PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, body included, by method and route template.",
            ["method", "route"],
            buckets=_FAST,
            registry=r,
        )
        self._attempts = Counter(
            f"{_PREFIX}_send_attempts",
            "Attempts to hand a delivery to the relay, by result.",
            ["result"],
            registry=r,
        )
        self._recipients = Counter(
            f"{_PREFIX}_send_recipients",
            "The relay's answers for single addresses, by result.",
            ["result"],
            registry=r,
        )
        self._send_seconds = Histogram(
            f"{_PREFIX}_send_duration_seconds",
            "Time of one attempt to hand a delivery to the relay, by result.",
            ["result"],
            buckets=_SEND,
            registry=r,
        )
        self._deliveries = Counter(
            f"{_PREFIX}_delivery_outcomes",
            "Outcomes recorded for claimed deliveries: SENT, QUEUED (to retry) or DEAD.",
            ["status"],
            registry=r,
        )
        self._generations = Counter(
            f"{_PREFIX}_generations",
            "Export generations recorded, by outcome: READY or FAILED.",
            ["status"],
            registry=r,
        )
        self._generation_seconds = Histogram(
            f"{_PREFIX}_generation_duration_seconds",
            "Time to generate an export, file included.",
            buckets=_GENERATION,
            registry=r,
        )
        self._depth = Gauge(
            f"{_PREFIX}_queue_depth",
            "Items waiting in a queue (outbox: QUEUED and SENDING deliveries), at scrape time.",
            ["queue"],
            registry=r,
        )
        self._due = Gauge(
            f"{_PREFIX}_queue_due",
            "Waiting items due now (not waiting for a retry or a lease), at scrape time.",
            ["queue"],
            registry=r,
        )
        self._oldest = Gauge(
            f"{_PREFIX}_queue_oldest_age_seconds",
            "Age of the oldest waiting item (0 when none waits), at scrape time.",
            ["queue"],
            registry=r,
        )
        self._unread = Counter(
            f"{_PREFIX}_queue_read_failures",
            "Scrapes at which the queues could not be read from the database in time.",
            registry=r,
        )
        self._resends.labels("accepted")
        for result in SendResult:
            self._attempts.labels(result.value)
        for outcome in RecipientOutcome:
            self._recipients.labels(outcome.value.lower())
        for status in (DeliveryStatus.SENT, DeliveryStatus.QUEUED, DeliveryStatus.DEAD):
            self._deliveries.labels(status.value)
        for export_status in (ExportStatus.READY, ExportStatus.FAILED):
            self._generations.labels(export_status.value)

    def send_attempted(
        self, result: SendResult, seconds: float, recipients: Sequence[RecipientResult]
    ) -> None:
        self._attempts.labels(result.value).inc()
        self._send_seconds.labels(result.value).observe(seconds)
        for answer in recipients:
            self._recipients.labels(answer.outcome.value.lower()).inc()

    def delivery_recorded(self, status: DeliveryStatus) -> None:
        self._deliveries.labels(status.value).inc()

    def generation_recorded(self, status: ExportStatus, seconds: float) -> None:
        self._generations.labels(status.value).inc()
        self._generation_seconds.observe(seconds)

    def request_handled(self, method: str, route: str | None, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        route = route or "unmatched"
        self._requests.labels(method, route, str(status)).inc()
        self._request_seconds.labels(method, route).observe(seconds)

    def resend_answered(self, outcome: str) -> None:
        self._resends.labels(outcome).inc()

    def render(self, reading: QueueReading) -> Exposition:
        if reading.outbox is None or reading.generation is None:
            self._unread.inc()
        for queue, backlog in (("outbox", reading.outbox), ("generation", reading.generation)):
            self._show(queue, backlog, reading)
        return Exposition(generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def _show(self, queue: str, backlog: Backlog | None, reading: QueueReading) -> None:
        if backlog is None:  # unknown: no sample, rather than a stale or a made-up one
            for gauge in (self._depth, self._due, self._oldest):
                gauge.remove(queue)  # an absent sample is no error
            return
        oldest = backlog.oldest_queued_at
        age = 0.0 if oldest is None else max((reading.at - oldest).total_seconds(), 0.0)
        self._depth.labels(queue).set(backlog.waiting)
        self._due.labels(queue).set(backlog.due)
        self._oldest.labels(queue).set(age)
