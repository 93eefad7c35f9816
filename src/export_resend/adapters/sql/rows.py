"""Rows to domain objects and back: the only place that knows both shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.generation import GenerationJob
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord
from export_resend.domain.recipients import Recipients
from export_resend.domain.records import (
    BalanceAccountType,
    ExportFilters,
    FundingTransferFilters,
    FundingTransferStatus,
    TransactionEventFilters,
    TransactionEventStatus,
)


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
        "filters": filters_json(export.filters),
        "supplier_scope": export.supplier_scope,
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
        filters=filters_from(ExportType(row["type"]), row["filters"]),
        supplier_scope=row["supplier_scope"],
        version=row["version"],
    )


def _text(value: Decimal | datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def filters_json(filters: ExportFilters | None) -> dict[str, Any] | None:
    """The filters as JSON: names as in the API, sets as sorted lists, numbers as text."""
    match filters:
        case None:
            return None
        case TransactionEventFilters():
            return {
                "statuses": sorted(filters.statuses),
                "amountMin": _text(filters.amount_min),
                "amountMax": _text(filters.amount_max),
                "updatedAtFrom": _text(filters.updated_at_from),
                "updatedAtTo": _text(filters.updated_at_to),
            }
        case FundingTransferFilters():
            return {
                "createdAtFrom": _text(filters.created_at_from),
                "createdAtTo": _text(filters.created_at_to),
                "statuses": sorted(filters.statuses),
                "supplierIds": sorted(filters.supplier_ids),
                "amountMin": _text(filters.amount_min),
                "amountMax": _text(filters.amount_max),
                "sourceBalanceAccountType": filters.source_balance_account_type,
                "targetBalanceAccountType": filters.target_balance_account_type,
            }


def filters_from(export_type: ExportType, value: dict[str, Any] | None) -> ExportFilters | None:
    """The filters ``filters_json`` stored for an export of ``export_type``."""
    if value is None:
        return None
    if export_type is ExportType.TRANSACTION_EVENTS:
        return TransactionEventFilters(
            statuses=frozenset(TransactionEventStatus(s) for s in value["statuses"]),
            amount_min=_decimal(value["amountMin"]),
            amount_max=_decimal(value["amountMax"]),
            updated_at_from=_moment(value["updatedAtFrom"]),
            updated_at_to=_moment(value["updatedAtTo"]),
        )
    source, target = value["sourceBalanceAccountType"], value["targetBalanceAccountType"]
    return FundingTransferFilters(
        created_at_from=_moment(value["createdAtFrom"]),
        created_at_to=_moment(value["createdAtTo"]),
        statuses=frozenset(FundingTransferStatus(s) for s in value["statuses"]),
        supplier_ids=frozenset(value["supplierIds"]),
        amount_min=_decimal(value["amountMin"]),
        amount_max=_decimal(value["amountMax"]),
        source_balance_account_type=None if source is None else BalanceAccountType(source),
        target_balance_account_type=None if target is None else BalanceAccountType(target),
    )


def idempotency_values(record: IdempotencyRecord) -> dict[str, Any]:
    """The column values of ``record``."""
    return {
        "scope": record.key.scope,
        "request": record.key.request,
        "key": record.key.value,
        "fingerprint": record.fingerprint,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "lease_id": record.lease_id,
        "locked_until": record.locked_until,
        "result": None if record.result is None else dict(record.result),
    }


def idempotency_from(row: Row) -> IdempotencyRecord:
    """The idempotency record a row holds."""
    return IdempotencyRecord(
        key=IdempotencyKey(row["scope"], row["request"], row["key"]),
        fingerprint=row["fingerprint"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        lease_id=row["lease_id"],
        locked_until=row["locked_until"],
        result=row["result"],
    )


def job_values(job: GenerationJob) -> dict[str, Any]:
    """The column values of ``job``."""
    return {
        "export_id": job.export_id,
        "queued_at": job.queued_at,
        "next_attempt_at": job.next_attempt_at,
        "attempts": job.attempts,
        "lease_id": job.lease_id,
    }


def job_from(row: Row) -> GenerationJob:
    """The generation job a row holds."""
    return GenerationJob(
        export_id=row["export_id"],
        queued_at=row["queued_at"],
        next_attempt_at=row["next_attempt_at"],
        attempts=row["attempts"],
        lease_id=row["lease_id"],
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
    """The caller a users row (or a row joined with it) names."""
    return Caller(
        user_id=row["id"],
        email=row["email"],
        tenant_id=row["tenant_id"],
        client_type=ClientType(row["client_type"]),
        supplier_id=row["supplier_id"],
    )


def api_key_record_from(row: Row) -> ApiKeyRecord:
    """The record of a users row joined with its key's ``key_id``, ``key_created_at``,
    ``last_used_at`` and ``revoked_at``."""
    return ApiKeyRecord(
        key_id=row["key_id"],
        caller=caller_from(row),
        created_at=row["key_created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
