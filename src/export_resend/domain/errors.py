"""What can go wrong by the rules. Each error carries the facts a caller needs, no more."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from export_resend.domain.caller import ClientType
    from export_resend.domain.export import ExportStatus
    from export_resend.domain.export_types import ExportType


class DomainError(Exception):
    """A rule of the domain was broken. Never a server fault."""


class ExportNotFound(DomainError):
    """No such export for this caller: it does not exist, or it belongs to another tenant."""

    def __init__(self, export_id: UUID) -> None:
        super().__init__(f"export {export_id} not found")
        self.export_id = export_id


class ExportForbidden(DomainError):
    """The export exists in the caller's tenant but was requested by someone else."""

    def __init__(self, export_id: UUID) -> None:
        super().__init__(f"export {export_id} belongs to another user")
        self.export_id = export_id


class ExportNotReady(DomainError):
    """The export's effective status does not allow this action."""

    def __init__(self, export_id: UUID, status: ExportStatus) -> None:
        super().__init__(f"export {export_id} is {status.value}, not READY")
        self.export_id = export_id
        self.status = status


class ExportExpired(DomainError):
    """The export's download period is over: its file is gone for good."""

    def __init__(self, export_id: UUID) -> None:
        super().__init__(f"export {export_id} has expired")
        self.export_id = export_id


class ExportTypeNotAllowed(DomainError):
    """This kind of client may not request this type of export."""

    def __init__(self, client_type: ClientType, export_type: ExportType) -> None:
        super().__init__(f"a {client_type.value} client may not request {export_type.label}")
        self.client_type = client_type
        self.export_type = export_type


class ExportTypeNotServed(DomainError):
    """This service has no row source for this type of export."""

    def __init__(self, export_type: str) -> None:
        super().__init__(f"this service does not generate {export_type} exports")
        self.export_type = export_type


class InvalidTransition(DomainError):
    """A status change that the export lifecycle does not allow."""

    def __init__(self, current: ExportStatus, target: ExportStatus) -> None:
        super().__init__(f"an export cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


class TooManyCcRecipients(DomainError):
    """More CC addresses than one email may carry."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} CC addresses given, at most {limit} allowed")
        self.count = count
        self.limit = limit


class ResendRateLimited(DomainError):
    """This export was resent as often as a rolling hour allows; ``retry_after_seconds`` is
    how long until the next resend is allowed."""

    def __init__(self, export_id: UUID, limit: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"export {export_id} was resent {limit} times within the hour;"
            f" try again in {retry_after_seconds} s"
        )
        self.export_id = export_id
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
