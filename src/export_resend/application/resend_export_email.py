"""Resend the "your export is ready" email of a READY export to its owner."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from export_resend.application.addresses import CcList
from export_resend.application.errors import FieldIssue
from export_resend.application.idempotency import Claim
from export_resend.application.validation import Command
from export_resend.domain.caller import Caller
from export_resend.domain.delivery import Delivery, DeliveryKind, DeliveryStatus, ResendLimit
from export_resend.domain.errors import ExportNotFound
from export_resend.domain.export import Export, ExportType
from export_resend.domain.idempotency import Result
from export_resend.domain.ports import Clock, DeliveryNotifier, UnitOfWorkFactory
from export_resend.domain.recipients import CcRemoval, CcWarning, NormalizedCc, Recipients

log = logging.getLogger(__name__)

_WARNING_TEXT = {
    CcRemoval.DUPLICATE: "{address} appears earlier in the list; sent once",
    CcRemoval.PRIMARY_RECIPIENT: "{address} is the primary recipient (To); not copied",
}


class ResendExportEmailCommand(Command):
    """What the owner asks: which export, and optionally a new CC list.

    ``cc`` replaces the original CC list; an empty tuple sends with no CC; ``None`` (or
    leaving it out) keeps the original list. There is no way to change the To.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    export_id: UUID
    cc: CcList | None = None


@dataclass(frozen=True, slots=True)
class ResendSummary:
    """What a resend did, in plain data: what its answer says, and what it records under an
    idempotency key, so that a retry is answered exactly as the first request was."""

    export_id: UUID
    export_type: ExportType
    recipients: Recipients
    delivery_id: UUID
    delivery_status: DeliveryStatus
    queued_at: datetime
    warnings: tuple[FieldIssue, ...]

    def as_data(self) -> dict[str, Any]:
        """This summary as JSON data."""
        return {
            "export_id": str(self.export_id),
            "export_type": self.export_type.value,
            "to": self.recipients.to,
            "cc": list(self.recipients.cc),
            "delivery_id": str(self.delivery_id),
            "delivery_status": self.delivery_status.value,
            "queued_at": self.queued_at.isoformat(),
            "warnings": [dataclasses.asdict(w) for w in self.warnings],
        }

    @classmethod
    def from_data(cls, data: Result) -> ResendSummary:
        """The summary ``as_data`` gave."""
        return cls(
            export_id=UUID(data["export_id"]),
            export_type=ExportType(data["export_type"]),
            recipients=Recipients(data["to"], tuple(data["cc"])),
            delivery_id=UUID(data["delivery_id"]),
            delivery_status=DeliveryStatus(data["delivery_status"]),
            queued_at=datetime.fromisoformat(data["queued_at"]),
            warnings=tuple(FieldIssue(**w) for w in data["warnings"]),
        )


@dataclass(frozen=True, slots=True)
class ResendReceipt:
    """What was accepted: the recipients, the queued delivery, and what was dropped."""

    export: Export
    recipients: Recipients
    delivery: Delivery
    warnings: tuple[FieldIssue, ...]

    @property
    def summary(self) -> ResendSummary:
        """What this resend did, in plain data."""
        return ResendSummary(
            export_id=self.export.id,
            export_type=self.export.type,
            recipients=self.recipients,
            delivery_id=self.delivery.id,
            delivery_status=self.delivery.status,
            queued_at=self.delivery.queued_at,
            warnings=self.warnings,
        )


def _warning(field: str, warning: CcWarning) -> FieldIssue:
    text = _WARNING_TEXT[warning.reason].format(address=warning.address)
    return FieldIssue(warning.reason.value, f"{field}[{warning.index}]", text)


def cc_warnings(field: str, cc: NormalizedCc) -> tuple[FieldIssue, ...]:
    """One warning per CC address dropped, naming it at its index in ``field``."""
    return tuple(_warning(field, w) for w in cc.warnings)


class ResendExportEmail:
    """Queue the email again, for the owner of a READY export, in one transaction.

    Raises ``ExportNotFound``, ``ExportForbidden``, ``ExportNotReady`` or
    ``ResendRateLimited`` (``limit`` counts the export's resends in the database, so it
    holds across processes), in that order of precedence. On success the delivery is
    committed to the outbox before this returns, and the dispatcher is told; sending never
    happens inside this call. With ``idempotency`` (a claimed key), the receipt's summary is
    recorded under the key in that same transaction.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        notifier: DeliveryNotifier,
        message_id_domain: str,
        limit: ResendLimit,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._notifier = notifier
        self._message_id_domain = message_id_domain
        self._limit = limit

    @property
    def limit(self) -> ResendLimit:
        """How many resends of one export the rolling window allows."""
        return self._limit

    async def __call__(
        self,
        caller: Caller,
        command: ResendExportEmailCommand,
        *,
        idempotency: Claim | None = None,
    ) -> ResendReceipt:
        async with self._unit_of_work() as uow:
            # the exclusive lock makes an expiry wait for this resend, or this resend see
            # it; and concurrent resends of one export take turns, so the limit holds
            export = await uow.exports.get(command.export_id, lock=True)
            if export is None:
                raise ExportNotFound(command.export_id)
            # read once the lock is held: a resend that took it first, however late it read
            # the clock, is then never ahead of this one, so the count and Retry-After hold
            now = self._clock.now()
            plan = export.plan_resend(caller, command.cc, now)
            counted = await uow.deliveries.queued_since(
                export.id, DeliveryKind.RESEND, self._limit.counted_after(now)
            )
            self._limit.check(export.id, counted, now)
            delivery = Delivery.queue(
                export.id, DeliveryKind.RESEND, plan.recipients, now, self._message_id_domain
            )
            await uow.deliveries.add(delivery)
            field = "cc" if command.cc is not None else "originalCc"
            receipt = ResendReceipt(export, plan.recipients, delivery, cc_warnings(field, plan.cc))
            if idempotency is not None:
                await idempotency.record(uow, receipt.summary.as_data())
            await uow.commit()
        self._notifier.delivery_queued(delivery.id)
        log.info(
            "delivery %s queued: a resend of export %s",
            delivery.id,
            export.id,
            extra={"export_id": str(export.id), "delivery_id": str(delivery.id)},
        )
        return receipt
