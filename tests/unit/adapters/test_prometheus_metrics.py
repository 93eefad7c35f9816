"""The Prometheus adapter: a registry per instance, bounded labels, queues only when read."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from export_resend.adapters.prometheus import PrometheusMetrics
from export_resend.domain.ports import Backlog, QueueReading
from tests.factories import NOW


def _samples(metrics: PrometheusMetrics, reading: QueueReading) -> dict[str, list[dict[str, str]]]:
    page = metrics.render(reading)
    found: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(page.body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append({**sample.labels, "value": str(sample.value)})
    return found


def test_two_instances_never_share_a_count() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.resend_answered("accepted")
    assert (
        first.registry.get_sample_value(
            "export_resend_resend_requests_total", {"outcome": "accepted"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "export_resend_resend_requests_total", {"outcome": "accepted"}
        )
        == 0
    )


def test_labels_stay_bounded_whatever_the_request() -> None:
    metrics = PrometheusMetrics()
    metrics.request_handled("BREW", None, 404, 0.01)
    metrics.request_handled("GET", "/v1/exports/{export_id}", 200, 0.02)
    requests = _samples(metrics, QueueReading(NOW, None, None))["export_resend_http_requests_total"]
    assert {(s["method"], s["route"], s["status"]) for s in requests} == {
        ("other", "unmatched", "404"),
        ("GET", "/v1/exports/{export_id}", "200"),
    }


def test_a_queue_read_shows_its_depth_and_age_and_an_unread_one_shows_nothing() -> None:
    metrics = PrometheusMetrics()
    outbox = Backlog(waiting=3, due=1, oldest_queued_at=NOW - timedelta(seconds=90))
    read = _samples(metrics, QueueReading(NOW, outbox, Backlog(0, 0, None)))
    assert sorted(
        (s["queue"], s["value"]) for s in read["export_resend_queue_oldest_age_seconds"]
    ) == [
        ("generation", "0.0"),
        ("outbox", "90.0"),
    ]
    assert {s["queue"]: s["value"] for s in read["export_resend_queue_depth"]} == {
        "outbox": "3.0",
        "generation": "0.0",
    }
    unread = _samples(metrics, QueueReading(NOW, None, None))
    assert "export_resend_queue_depth" not in unread  # no stale value from the last scrape
    assert unread["export_resend_queue_read_failures_total"] == [{"value": "1.0"}]
