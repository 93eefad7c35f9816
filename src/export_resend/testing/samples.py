"""The data the contract suites use, for tests of your own: exports, deliveries, emails and
API keys. Needs neither pytest nor hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from uuid import uuid4

from export_resend.domain.api_keys import ApiKey, ApiKeyRecord
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.delivery import Delivery, DeliveryKind
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.ports import OutgoingEmail
from export_resend.domain.recipients import Recipients
from export_resend.domain.records import (
    BalanceAccountType,
    FundingTransferFilters,
    FundingTransferStatus,
)

__all__ = [
    "SAMPLE_MOMENT",
    "sample_delivery",
    "sample_email",
    "sample_export",
    "sample_key_record",
]

SAMPLE_MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""When the samples are requested, created or queued, unless told otherwise."""


def sample_export(status: ExportStatus = ExportStatus.READY, cc: tuple[str, ...] = ()) -> Export:
    """A fresh export in ``status``, with every optional field its status allows filled in."""
    pending = Export(
        id=uuid4(),
        tenant_id="acme",
        type=ExportType.FUNDING_TRANSFERS,
        owner_id="olivia",
        owner_email="olivia@acme.example.com",
        status=ExportStatus.PENDING,
        requested_at=SAMPLE_MOMENT,
        cc=cc,
        filters=FundingTransferFilters(
            created_at_from=SAMPLE_MOMENT - timedelta(days=30),
            statuses=frozenset({FundingTransferStatus.COMPLETED, FundingTransferStatus.FAILED}),
            supplier_ids=frozenset({"supplier-acme", "supplier-sam"}),
            amount_min=Decimal("10.50"),
            target_balance_account_type=BalanceAccountType.SUPPLIER,
        ),
        supplier_scope="supplier-acme",
    )
    if status is ExportStatus.PENDING:
        return pending
    if status is ExportStatus.FAILED:
        return pending.mark_failed("the row source timed out")
    file = ExportFile(f"exports/{pending.id}.csv", 123_456, 789, "ab" * 32)
    ready = pending.mark_ready(file, SAMPLE_MOMENT + timedelta(minutes=2), timedelta(days=7))
    if status is ExportStatus.EXPIRED:
        return ready.expire(SAMPLE_MOMENT + timedelta(days=8))
    return ready


def sample_delivery(export: Export, queued_at: datetime = SAMPLE_MOMENT) -> Delivery:
    """A QUEUED resend of ``export`` with one CC."""
    recipients = Recipients(export.owner_email, ("finance@acme.example.com",))
    return Delivery.queue(export.id, DeliveryKind.RESEND, recipients, queued_at, "example.com")


def sample_email(cc: tuple[str, ...] = ("finance@acme.example.com",)) -> OutgoingEmail:
    """A small message with its envelope (the To, then ``cc``): a plain-text body and an
    HTML one, as alternatives, and a subject and bodies that are not all ASCII."""
    message = EmailMessage()
    message["From"] = "exports@example.com"
    message["To"] = "olivia@acme.example.com"
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = "Your funding transfers export is ready (Acme Général)"
    message["Message-ID"] = f"<{uuid4().hex}@example.com>"
    message.set_content("Download it here: https://example.com/x\nAcme Général, 25 €\n")
    message.add_alternative(
        '<p><a href="https://example.com/x">Download it</a></p>\n<p>Acme Général, 25 €</p>\n',
        subtype="html",
    )
    return OutgoingEmail("exports@example.com", ("olivia@acme.example.com", *cc), message)


def sample_key_record(
    caller: Caller | None = None,
    created_at: datetime = SAMPLE_MOMENT,
    *,
    key_id: str | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new key's digest and record, for ``caller`` (a fresh operator of a fresh tenant by
    default, so that tests sharing a database never see each other's keys)."""
    key = ApiKey.generate()
    who = caller or Caller("olivia", "olivia@acme.example.com", uuid4().hex, ClientType.OPERATOR)
    return key.sha256, ApiKeyRecord(key_id or key.key_id, who, created_at)
