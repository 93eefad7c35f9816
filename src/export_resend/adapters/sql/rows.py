"""Rows to domain objects and back: the only place that knows both shapes."""

from __future__ import annotations

from typing import Any, Protocol

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.recipients import Recipients


class Row(Protocol):
    """A database row read by column name (SQLAlchemy's RowMapping, asyncpg's Record)."""

    def __getitem__(self, name: str, /) -> Any: ...


def export_values(export: Export) -> dict[str, Any]:
    """The column values of ``export``."""
    file = export.file
    return {
        "id": export.id,
        "tenant_id": export.tenant_id,
        "type": export.type.value,
        "owner_id": export.owner_id,
        "owner_email": export.owner_email,
        "cc": list(export.cc),
        "status": export.status.value,
        "requested_at": export.requested_at,
        "ready_at": export.ready_at,
        "expires_at": export.expires_at,
        "storage_key": None if file is None else file.storage_key,
        "size_bytes": None if file is None else file.size_bytes,
        "row_count": None if file is None else file.row_count,
        "sha256": None if file is None else file.sha256,
        "failure_reason": export.failure_reason,
        "version": export.version,
    }


def export_from(row: Row) -> Export:
    """The export a row holds."""
    file = None
    if row["storage_key"] is not None:
        file = ExportFile(row["storage_key"], row["size_bytes"], row["row_count"], row["sha256"])
    return Export(
        id=row["id"],
        tenant_id=row["tenant_id"],
        type=ExportType(row["type"]),
        owner_id=row["owner_id"],
        owner_email=row["owner_email"],
        status=ExportStatus(row["status"]),
        requested_at=row["requested_at"],
        cc=tuple(row["cc"]),
        ready_at=row["ready_at"],
        expires_at=row["expires_at"],
        file=file,
        failure_reason=row["failure_reason"],
        version=row["version"],
    )


def delivery_values(delivery: Delivery) -> dict[str, Any]:
    """The column values of ``delivery``."""
    return {
        "id": delivery.id,
        "export_id": delivery.export_id,
        "kind": delivery.kind.value,
        "to_address": delivery.recipients.to,
        "cc": list(delivery.recipients.cc),
        "message_id": delivery.message_id,
        "status": delivery.status.value,
        "queued_at": delivery.queued_at,
        "next_attempt_at": delivery.next_attempt_at,
        "attempts": delivery.attempts,
        "last_attempt_at": delivery.last_attempt_at,
        "sent_at": delivery.sent_at,
        "last_error": delivery.last_error,
        "lease_id": delivery.lease_id,
        "results": [
            {"address": r.address, "outcome": r.outcome.value, "code": r.code, "text": r.text}
            for r in delivery.results
        ],
    }


def delivery_from(row: Row) -> Delivery:
    """The delivery a row holds."""
    return Delivery(
        id=row["id"],
        export_id=row["export_id"],
        kind=DeliveryKind(row["kind"]),
        recipients=Recipients(row["to_address"], tuple(row["cc"])),
        message_id=row["message_id"],
        status=DeliveryStatus(row["status"]),
        queued_at=row["queued_at"],
        next_attempt_at=row["next_attempt_at"],
        attempts=row["attempts"],
        last_attempt_at=row["last_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        lease_id=row["lease_id"],
        results=tuple(
            RecipientResult(r["address"], RecipientOutcome(r["outcome"]), r["code"], r["text"])
            for r in row["results"]
        ),
    )


def caller_from(row: Row) -> Caller:
    """The caller a joined api_keys/users row names."""
    return Caller(
        user_id=row["id"],
        email=row["email"],
        tenant_id=row["tenant_id"],
        client_type=ClientType(row["client_type"]),
        supplier_id=row["supplier_id"],
    )
