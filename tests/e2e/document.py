"""The OpenAPI document of a service with every export type, metrics and the default
settings (a resend limit of 5 an hour, keys kept 24 hours), as ``create_app`` serves it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from export_resend.adapters.http.openapi import Operation, Policies, openapi_document
from export_resend.adapters.http.routes import every_operation
from export_resend.domain.delivery import ResendLimit
from export_resend.domain.export import ExportType

POLICIES = Policies(resend_limit=ResendLimit(5), idempotency_retention=timedelta(hours=24))
OPERATIONS: list[Operation[Any]] = every_operation(tuple(ExportType), metrics=True)


def document() -> dict[str, Any]:
    """A new copy of the document."""
    return openapi_document(OPERATIONS, POLICIES)
