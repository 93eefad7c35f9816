"""The example data the document shows: export ids, dates, addresses, bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from export_resend.adapters.http.schemas import ExportEmailsResponse, ExportResponse
from export_resend.application.csv_writer import cells, header
from export_resend.domain.delivery import DeliveryKind, DeliveryStatus, RecipientOutcome
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.records import TransactionEvent, TransactionEventStatus

EXAMPLE_EXPORT_IDS: Mapping[ExportStatus, UUID] = {
    ExportStatus.READY: UUID("0b6a3e52-7c1f-4d8e-9a35-2f4c6b8d1e07"),
    ExportStatus.PENDING: UUID("5d2c8f41-3b7a-4e96-8c10-7a9e4f2b6d38"),
    ExportStatus.FAILED: UUID("9e47b1c6-0f2d-4a83-b5e9-6c1d3a8f2e54"),
    ExportStatus.EXPIRED: UUID("c3f85a2d-6e19-4b70-a4d2-8b5e7c9f1a63"),
}
"""The export ids of the document's examples, by the status they show: a test world that
holds exports under these ids answers the examples as the document says."""

NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
READY_ID = EXAMPLE_EXPORT_IDS[ExportStatus.READY]
DELIVERY_ID = UUID("7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0")
OWNER = "olivia@acme.example.com"
CC = ["finance@acme.example.com", "audit@acme.example.com"]


def export_example(status: ExportStatus) -> ExportResponse:
    ready = status in (ExportStatus.READY, ExportStatus.EXPIRED)
    return ExportResponse(
        export_id=EXAMPLE_EXPORT_IDS[status],
        export_type=ExportType.TRANSACTION_EVENTS,
        status=status,
        requested_at=NOW - timedelta(minutes=3),
        ready_at=NOW if ready else None,
        expires_at=NOW + timedelta(days=7) if ready else None,
        row_count=4321 if ready else None,
        size_bytes=1_234_567 if ready else None,
        cc=CC,
        failure_reason="the row source timed out" if status is ExportStatus.FAILED else None,
    )


def csv_example() -> str:
    event = TransactionEvent(
        event_id="evt-000001",
        transaction_id="trx-000001",
        commercial_order_reference="ORDER-2026-0001",
        supplier_id="supplier-42",
        customer_account="ACC-7",
        payment_method="CARD",
        payment_network="VISA",
        psp_reference="psp-9f8e7d",
        status=TransactionEventStatus.PAID,
        amount=Decimal("125.50"),
        currency="EUR",
        updated_at=NOW,
    )
    return "".join(";".join(row) + "\n" for row in (header(TransactionEvent), cells(event)))


def emails_example() -> ExportEmailsResponse:
    sent_at = NOW + timedelta(seconds=2)
    return ExportEmailsResponse.model_validate(
        {
            "exportId": READY_ID,
            "emails": [
                {
                    "deliveryId": DELIVERY_ID,
                    "kind": DeliveryKind.INITIAL,
                    "to": OWNER,
                    "cc": CC,
                    "status": DeliveryStatus.SENT,
                    "attempts": 1,
                    "results": [
                        {
                            "address": address,
                            "outcome": RecipientOutcome.ACCEPTED,
                            "code": 250,
                            "text": "2.0.0 Ok: queued",
                        }
                        for address in (OWNER, *CC)
                    ],
                    "messageId": f"<{DELIVERY_ID}@export-resend.example.com>",
                    "queuedAt": NOW,
                    "lastAttemptAt": sent_at,
                    "nextAttemptAt": None,
                    "sentAt": sent_at,
                    "lastError": None,
                }
            ],
        }
    )
