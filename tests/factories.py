"""Small builders for test data: one line per thing a test cares about."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType

NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

EMAIL_HEADERS = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
)
"""Every header of an export email, in order, written out here rather than taken from the code."""
TTL = timedelta(days=7)


def caller(
    user_id: str = "olivia",
    tenant_id: str = "acme",
    client_type: ClientType = ClientType.OPERATOR,
    email: str | None = None,
) -> Caller:
    supplier = f"supplier-{user_id}" if client_type is ClientType.SUPPLIER else None
    address = email or f"{user_id}@{tenant_id}.example.com"
    return Caller(user_id, address, tenant_id, client_type, supplier)


def export(
    owner: Caller | None = None,
    status: ExportStatus = ExportStatus.READY,
    *,
    cc: tuple[str, ...] = (),
    ready_at: datetime = NOW - timedelta(hours=1),
    ttl: timedelta = TTL,
    export_type: ExportType = ExportType.TRANSACTION_EVENTS,
) -> Export:
    """An export of ``owner`` (olivia of acme by default) in ``status``."""
    who = owner or caller()
    pending = Export(
        id=uuid4(),
        tenant_id=who.tenant_id,
        type=export_type,
        owner_id=who.user_id,
        owner_email=who.email,
        status=ExportStatus.PENDING,
        requested_at=ready_at - timedelta(minutes=3),
        cc=cc,
    )
    if status is ExportStatus.PENDING:
        return pending
    if status is ExportStatus.FAILED:
        return pending.mark_failed("the row source timed out")
    file = ExportFile(
        f"exports/{pending.id}.csv", 1_234_567, 4_321, hashlib.sha256(b"rows").hexdigest()
    )
    ready = pending.mark_ready(file, ready_at, ttl)
    return ready.expire(ready_at + ttl) if status is ExportStatus.EXPIRED else ready
