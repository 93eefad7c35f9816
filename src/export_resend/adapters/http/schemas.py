"""The JSON the API returns, in the platform's camelCase."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from export_resend.application.addresses import CcList
from export_resend.application.errors import FieldIssue
from export_resend.application.get_export import ExportDetails
from export_resend.application.list_export_emails import ExportEmails
from export_resend.application.list_exports import ExportList
from export_resend.application.request_export import ExportRequestSummary
from export_resend.application.resend_export_email import ResendSummary
from export_resend.domain.caller import ClientType
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import ExportStatus, ExportType


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, frozen=True
    )


class IssueBody(_Body):
    """A warning or an error about one field."""

    code: str
    field: str
    message: str

    @classmethod
    def of(cls, issue: FieldIssue) -> IssueBody:
        return cls(code=issue.code, field=issue.field, message=issue.message)


class ResendEmailRequest(_Body):
    """The body of ``POST /v1/exports/{exportId}/resend-email``, all of it optional.

    ``cc`` replaces the export's original CC list for this email; ``[]`` sends with no CC;
    leaving it out (or ``null``, or sending no body) keeps the original list. The To is always
    the caller. Other members are ignored, each with a ``FIELD_IGNORED`` warning.
    """

    cc: CcList | None = None


class RecipientsBody(_Body):
    """Who the email goes to."""

    to: str
    cc: list[str]


class DeliveryBody(_Body):
    """The queued email."""

    id: UUID
    status: DeliveryStatus
    queued_at: datetime


class ResendEmailResponse(_Body):
    """The 200 of ``POST /v1/exports/{exportId}/resend-email``."""

    export_id: UUID
    export_type: ExportType
    status: ExportStatus
    recipients: RecipientsBody
    delivery: DeliveryBody
    warnings: list[IssueBody]

    @classmethod
    def of(cls, resent: ResendSummary, extra_warnings: list[FieldIssue]) -> ResendEmailResponse:
        return cls(
            export_id=resent.export_id,
            export_type=resent.export_type,
            status=ExportStatus.READY,
            recipients=RecipientsBody(to=resent.recipients.to, cc=list(resent.recipients.cc)),
            delivery=DeliveryBody(
                id=resent.delivery_id, status=resent.delivery_status, queued_at=resent.queued_at
            ),
            warnings=[IssueBody.of(w) for w in (*extra_warnings, *resent.warnings)],
        )


class ExportResponse(_Body):
    """The 200 of ``GET /v1/exports/{exportId}``: the export with its effective status."""

    export_id: UUID
    export_type: ExportType
    status: ExportStatus
    requested_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    row_count: int | None
    size_bytes: int | None
    cc: list[str]
    failure_reason: str | None

    @classmethod
    def of(cls, details: ExportDetails) -> ExportResponse:
        export = details.export
        return cls(
            export_id=export.id,
            export_type=export.type,
            status=details.status,
            requested_at=export.requested_at,
            ready_at=export.ready_at,
            expires_at=export.expires_at,
            row_count=None if export.file is None else export.file.row_count,
            size_bytes=None if export.file is None else export.file.size_bytes,
            cc=list(export.cc),
            failure_reason=export.failure_reason,
        )


class ExportRequestedResponse(_Body):
    """The 202 of ``POST /v1/payments/{kind}/export``: the export is queued, PENDING."""

    export_id: UUID
    export_type: ExportType
    status: ExportStatus
    requested_at: datetime
    cc: list[str]
    warnings: list[IssueBody]

    @classmethod
    def of(
        cls, requested: ExportRequestSummary, extra_warnings: list[FieldIssue]
    ) -> ExportRequestedResponse:
        return cls(
            export_id=requested.export_id,
            export_type=requested.export_type,
            status=requested.status,
            requested_at=requested.requested_at,
            cc=list(requested.cc),
            warnings=[IssueBody.of(w) for w in (*extra_warnings, *requested.warnings)],
        )


class ExportListResponse(_Body):
    """The 200 of ``GET /v1/exports``: one page of the caller's exports, newest first."""

    items: list[ExportResponse]
    page: int
    size: int
    total: int

    @classmethod
    def of(cls, found: ExportList) -> ExportListResponse:
        return cls(
            items=[ExportResponse.of(d) for d in found.items],
            page=found.page,
            size=found.size,
            total=found.total,
        )


class RecipientResultBody(_Body):
    """What the relay last said about one address."""

    address: str
    outcome: RecipientOutcome
    code: int | None
    text: str | None

    @classmethod
    def of(cls, result: RecipientResult) -> RecipientResultBody:
        return cls(
            address=result.address, outcome=result.outcome, code=result.code, text=result.text
        )


class EmailBody(_Body):
    """One email of an export: the initial one or a resend, and how its delivery went."""

    delivery_id: UUID
    kind: DeliveryKind
    to: str
    cc: list[str]
    status: DeliveryStatus
    attempts: int
    results: list[RecipientResultBody]
    message_id: str
    queued_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> EmailBody:
        waiting = delivery.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
        return cls(
            delivery_id=delivery.id,
            kind=delivery.kind,
            to=delivery.recipients.to,
            cc=list(delivery.recipients.cc),
            status=delivery.status,
            attempts=delivery.attempts,
            results=[RecipientResultBody.of(r) for r in delivery.results],
            message_id=delivery.message_id,
            queued_at=delivery.queued_at,
            last_attempt_at=delivery.last_attempt_at,
            next_attempt_at=delivery.next_attempt_at if waiting else None,
            sent_at=delivery.sent_at,
            last_error=delivery.last_error,
        )


class ExportEmailsResponse(_Body):
    """The 200 of ``GET /v1/exports/{exportId}/emails``: every email, oldest first."""

    export_id: UUID
    emails: list[EmailBody]

    @classmethod
    def of(cls, history: ExportEmails) -> ExportEmailsResponse:
        return cls(
            export_id=history.export.id, emails=[EmailBody.of(d) for d in history.deliveries]
        )


class Problem(_Body):
    """An error (RFC 9457, ``application/problem+json``) with the platform's ``code``.

    ``type`` is a stable URN per ``code``; ``title`` never varies for a ``type``; ``detail``
    says what happened this time; ``instance`` is the path that was asked for. The other
    members appear only with the problems that carry them.
    """

    type: str = Field(json_schema_extra={"format": "uri"})
    title: str
    status: int = Field(ge=400, le=599)
    code: str
    detail: str
    instance: str
    errors: list[IssueBody] | SkipJsonSchema[None] = Field(
        default=None, description="What is wrong with which field (400)."
    )
    export_status: ExportStatus | SkipJsonSchema[None] = Field(
        default=None, description="The export's effective status (EXPORT_NOT_READY)."
    )
    client_type: ClientType | SkipJsonSchema[None] = Field(
        default=None, description="The caller's client type (EXPORT_TYPE_NOT_ALLOWED)."
    )
    export_type: ExportType | SkipJsonSchema[None] = Field(
        default=None, description="The export type asked for (EXPORT_TYPE_NOT_ALLOWED)."
    )
    retry_after: int | SkipJsonSchema[None] = Field(
        default=None, ge=0, description="Seconds to wait before trying again, as Retry-After."
    )
    limit: int | SkipJsonSchema[None] = Field(
        default=None,
        ge=1,
        description="Resends allowed per export per rolling hour (RATE_LIMITED).",
    )


class ServiceStatus(_Body):
    """The 200 of ``GET /livez`` and ``GET /readyz``."""

    status: Literal["ok"]
