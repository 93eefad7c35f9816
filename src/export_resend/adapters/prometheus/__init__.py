"""Metrics in Prometheus's text format (prometheus-client), in a registry of their own."""

from export_resend.adapters.prometheus.metrics import PrometheusMetrics

__all__ = ["PrometheusMetrics"]
