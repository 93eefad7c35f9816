"""The emails of one export, as its owner sees them: every initial email and resend."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from export_resend.domain.caller import Caller
from export_resend.domain.delivery import Delivery
from export_resend.domain.errors import ExportNotFound
from export_resend.domain.export import Export
from export_resend.domain.ports import UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class ExportEmails:
    """An export and its deliveries, oldest first."""

    export: Export
    deliveries: tuple[Delivery, ...]


class ListExportEmails:
    """The delivery history of one of the caller's exports, in any status.

    Raises ``ExportNotFound`` (unknown, or another tenant's) or ``ExportForbidden`` (not
    the owner), like the resend; unlike it, an export that is not READY still has a history.
    """

    def __init__(self, *, unit_of_work: UnitOfWorkFactory) -> None:
        self._unit_of_work = unit_of_work

    async def __call__(self, caller: Caller, export_id: UUID) -> ExportEmails:
        async with self._unit_of_work() as uow:
            export = await uow.exports.get(export_id)
            if export is None:
                raise ExportNotFound(export_id)
            export.check_visible_to(caller)
            deliveries = await uow.deliveries.list_for_export(export_id)
        return ExportEmails(export, tuple(deliveries))
