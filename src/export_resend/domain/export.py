"""The export aggregate: its lifecycle and who may have its email sent again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.errors import (
    ExportExpired,
    ExportForbidden,
    ExportNotFound,
    ExportNotReady,
    ExportTypeNotAllowed,
    InvalidTransition,
)
from export_resend.domain.export_types import KINDS, requestable_types
from export_resend.domain.export_types import ExportType as ExportType  # noqa: PLC0414 (its old home)
from export_resend.domain.recipients import (
    MAX_CC_RECIPIENTS,
    NormalizedCc,
    Recipients,
    check_bare_address,
    normalize_cc,
)
from export_resend.domain.records import (
    ExportFilters,
    ExportScope,
    FundingTransferFilters,
)


class ExportStatus(StrEnum):
    """Where an export is in its life. EXPIRED is terminal, FAILED too."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


_TRANSITIONS = {
    ExportStatus.PENDING: {ExportStatus.READY, ExportStatus.FAILED},
    ExportStatus.READY: {ExportStatus.EXPIRED},
}


@dataclass(frozen=True, slots=True)
class ExportFile:
    """The stored CSV: where it is, and what it holds."""

    storage_key: str
    size_bytes: int
    row_count: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ResendPlan:
    """Who a resend goes to, and which requested CC addresses were dropped."""

    recipients: Recipients
    cc: NormalizedCc


def _require_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() != timedelta(0)):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class Export:
    """One requested export. Methods state the rules; none of them does I/O.

    ``cc`` is the CC list given when the export was requested; ``owner_email`` is the
    owner's address at that time. ``filters`` (of the export type's kind, or ``None``
    for "everything") and ``supplier_scope`` (set when a supplier requested it: only its
    own data) say what the file holds. All timestamps are timezone-aware UTC.
    """

    id: UUID
    tenant_id: str
    type: ExportType
    owner_id: str
    owner_email: str
    status: ExportStatus
    requested_at: datetime
    cc: tuple[str, ...] = ()
    ready_at: datetime | None = None
    expires_at: datetime | None = None
    file: ExportFile | None = None
    failure_reason: str | None = None
    filters: ExportFilters | None = None
    supplier_scope: str | None = None
    version: int = 0
    """How many times the stored export was updated; repositories refuse lost updates by it."""

    def __post_init__(self) -> None:
        _require_utc("requested_at", self.requested_at)
        _require_utc("ready_at", self.ready_at)
        _require_utc("expires_at", self.expires_at)
        if len(self.cc) > MAX_CC_RECIPIENTS:
            raise ValueError(f"an export has at most {MAX_CC_RECIPIENTS} CC addresses")
        for address in (self.owner_email, *self.cc):
            check_bare_address(address)
        if self.status is ExportStatus.READY and (self.expires_at is None or self.file is None):
            raise ValueError("a READY export has a file and an expiry")
        kind = KINDS[self.type].filters
        if self.filters is not None and (kind is None or not isinstance(self.filters, kind)):
            raise ValueError(f"{type(self.filters).__name__} do not apply to {self.type.value}")

    @classmethod
    def request(
        cls,
        *,
        export_id: UUID,
        caller: Caller,
        export_type: ExportType,
        cc: Sequence[str],
        filters: ExportFilters | None,
        now: datetime,
    ) -> tuple[Export, NormalizedCc]:
        """A PENDING export of ``export_type`` for ``caller``, who must be allowed to request
        it; the CC list normalised against the caller's address (what was dropped, and why).

        A supplier's export is scoped to its own data, so its ``supplier_ids`` filter is
        ignored.
        """
        cls.check_requestable(caller, export_type)
        scoped = caller.client_type is ClientType.SUPPLIER
        if scoped and isinstance(filters, FundingTransferFilters):
            filters = dataclasses.replace(filters, supplier_ids=frozenset())
        normalized = normalize_cc(caller.email, cc)
        export = cls(
            id=export_id,
            tenant_id=caller.tenant_id,
            type=export_type,
            owner_id=caller.user_id,
            owner_email=caller.email,
            status=ExportStatus.PENDING,
            requested_at=now,
            cc=normalized.cc,
            filters=filters,
            supplier_scope=caller.supplier_id if scoped else None,
        )
        return export, normalized

    @staticmethod
    def check_requestable(caller: Caller, export_type: ExportType) -> None:
        """Raise ``ExportTypeNotAllowed`` unless the caller's kind of client may request
        ``export_type`` (a supplier also needs its supplier id, to scope the export)."""
        allowed = requestable_types(caller.client_type)
        unscoped = caller.client_type is ClientType.SUPPLIER and not caller.supplier_id
        if export_type not in allowed or unscoped:
            raise ExportTypeNotAllowed(caller.client_type, export_type)

    @property
    def scope(self) -> ExportScope:
        """Whose data the file may hold."""
        return ExportScope(self.tenant_id, self.supplier_scope)

    @property
    def recipients(self) -> Recipients:
        """Who the first email goes to: the owner as they were at request time, and the CC
        list given then."""
        return Recipients(self.owner_email, self.cc)

    def effective_status(self, now: datetime) -> ExportStatus:
        """The status every rule and every read uses: READY from ``expires_at`` on is EXPIRED."""
        if (
            self.status is ExportStatus.READY
            and self.expires_at is not None
            and now >= self.expires_at
        ):
            return ExportStatus.EXPIRED
        return self.status

    def check_visible_to(self, caller: Caller) -> None:
        """Raise unless the caller may see this export: same tenant, then same owner."""
        if caller.tenant_id != self.tenant_id:
            raise ExportNotFound(self.id)
        if caller.user_id != self.owner_id:
            raise ExportForbidden(self.id)

    def plan_resend(self, caller: Caller, cc: Sequence[str] | None, now: datetime) -> ResendPlan:
        """Apply the resend rule, in order: not found, not the owner, not READY.

        The To is the caller's own address, whatever was asked. ``cc`` replaces the
        original CC list when given (an empty list sends with no CC); ``None`` keeps it.
        """
        self.check_visible_to(caller)
        status = self.effective_status(now)
        if status is not ExportStatus.READY:
            raise ExportNotReady(self.id, status)
        normalized = normalize_cc(caller.email, self.cc if cc is None else cc)
        return ResendPlan(Recipients(caller.email, normalized.cc), normalized)

    def check_downloadable(self, now: datetime) -> ExportFile:
        """The file, while the export is READY; ``ExportExpired`` once its period is over.

        Anything else (PENDING, FAILED: no link was ever issued) is ``ExportNotFound``.
        """
        status = self.effective_status(now)
        if status is ExportStatus.EXPIRED:
            raise ExportExpired(self.id)
        if status is not ExportStatus.READY or self.file is None:
            raise ExportNotFound(self.id)
        return self.file

    def mark_ready(self, file: ExportFile, now: datetime, ttl: timedelta) -> Export:
        """The file is stored: downloadable until ``now + ttl``."""
        self._check_transition(ExportStatus.READY)
        return dataclasses.replace(
            self, status=ExportStatus.READY, file=file, ready_at=now, expires_at=now + ttl
        )

    def mark_failed(self, reason: str) -> Export:
        """Generation failed; there is no file and no email."""
        self._check_transition(ExportStatus.FAILED)
        return dataclasses.replace(self, status=ExportStatus.FAILED, failure_reason=reason)

    def expire(self, now: datetime) -> Export:
        """Record that the download period is over: only a READY export past ``expires_at``."""
        self._check_transition(ExportStatus.EXPIRED)
        if self.effective_status(now) is not ExportStatus.EXPIRED:
            raise InvalidTransition(self.status, ExportStatus.EXPIRED)
        return dataclasses.replace(self, status=ExportStatus.EXPIRED)

    def _check_transition(self, target: ExportStatus) -> None:
        if target not in _TRANSITIONS.get(self.status, set()):
            raise InvalidTransition(self.status, target)


MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """One page of one user's exports, newest first, optionally of one type or status.

    ``status`` is compared with the effective status: EXPIRED also finds READY exports
    past ``expires_at``, and READY finds only those before it.
    """

    tenant_id: str
    owner_id: str
    type: ExportType | None = None
    status: ExportStatus | None = None
    page: int = 0
    size: int = 20

    def __post_init__(self) -> None:
        if self.page < 0 or not 1 <= self.size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be >= 0 and size within 1..{MAX_PAGE_SIZE}")

    def matches(self, export: Export, now: datetime) -> bool:
        """Whether ``export`` belongs in the result, ignoring pagination."""
        return (
            export.tenant_id == self.tenant_id
            and export.owner_id == self.owner_id
            and (self.type is None or export.type is self.type)
            and (self.status is None or export.effective_status(now) is self.status)
        )


@dataclass(frozen=True, slots=True)
class ExportPage:
    """The exports of one page, newest ``requested_at`` first (then highest id), and how
    many match in all."""

    items: tuple[Export, ...]
    total: int


def newest_first(export: Export) -> tuple[datetime, UUID]:
    """The sort key of every export listing (use with ``reverse=True``)."""
    return (export.requested_at, export.id)
