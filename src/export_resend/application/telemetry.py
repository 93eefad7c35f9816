"""What the service tells its metrics: ports the use cases and the HTTP adapter call.

The application knows no metrics library. It reports what happened through these small
ports; an adapter (``adapters/prometheus``) counts it. ``NO_METRICS`` ignores everything,
so that a host service that wants no metrics passes nothing.

Every method of a recording port must return at once and never raise: metrics are never
a reason for a send, a generation or a request to fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from export_resend.domain.delivery import DeliveryStatus, RecipientOutcome, RecipientResult
from export_resend.domain.export import ExportStatus
from export_resend.domain.ports import Backlog


class SendResult(StrEnum):
    """How one attempt to hand a delivery to the relay ended."""

    ACCEPTED = "accepted"
    """The relay accepted every address tried."""
    TRANSIENT = "transient"
    """The relay refused some address for now (4xx): it is tried again later."""
    PERMANENT = "permanent"
    """The relay refused some address for good (5xx), and none for now."""
    UNAVAILABLE = "unavailable"
    """The relay could not be reached, refused the sender or the login, or broke off."""
    ERROR = "error"
    """The mailer itself failed (a bug): counted as an attempt, tried again later."""

    @classmethod
    def of(cls, results: Sequence[RecipientResult]) -> SendResult:
        """The worst answer among ``results``: for now, then for good, then accepted."""
        outcomes = {r.outcome for r in results}
        if RecipientOutcome.REFUSED_TRANSIENTLY in outcomes:
            return cls.TRANSIENT
        if RecipientOutcome.REFUSED_PERMANENTLY in outcomes:
            return cls.PERMANENT
        return cls.ACCEPTED


class DeliveryMetrics(Protocol):
    """Told by the outbox what each attempt and each delivery came to.

    ``send_attempted``: the mailer was called for one delivery; ``seconds`` is how long it
    took and ``recipients`` what the relay answered for each address (empty unless the
    relay answered). ``delivery_recorded``: the outcome of one run of a claimed delivery
    was stored: SENT, QUEUED again (a retry later) or DEAD.
    """

    def send_attempted(
        self, result: SendResult, seconds: float, recipients: Sequence[RecipientResult]
    ) -> None: ...

    def delivery_recorded(self, status: DeliveryStatus) -> None: ...


class GenerationMetrics(Protocol):
    """Told by the generator how each export's generation ended (READY or FAILED) and how
    long it took, file included."""

    def generation_recorded(self, status: ExportStatus, seconds: float) -> None: ...


class RequestMetrics(Protocol):
    """Told by the HTTP adapter of every request answered.

    ``request_handled``: ``route`` is the route's path template (``/v1/exports/{export_id}``)
    or ``None`` when no route matched. ``resend_answered``: a resend request was answered,
    ``outcome`` being ``accepted``, ``replayed`` or the problem code of the refusal.
    """

    def request_handled(
        self, method: str, route: str | None, status: int, seconds: float
    ) -> None: ...

    def resend_answered(self, outcome: str) -> None: ...


@dataclass(frozen=True, slots=True)
class QueueReading:
    """The queues as read for one scrape, at ``at``; ``None`` for a queue that could not be
    read (the database did not answer in time)."""

    at: datetime
    outbox: Backlog | None
    generation: Backlog | None


@dataclass(frozen=True, slots=True)
class Exposition:
    """A metrics page, ready to serve: its bytes and their media type."""

    body: bytes
    media_type: str


class MetricsExposition(Protocol):
    """Renders every metric counted so far, with the queues as ``reading`` found them.

    ``render`` does not wait on anything: concurrent scrapes each get a consistent page.
    """

    def render(self, reading: QueueReading) -> Exposition: ...


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
