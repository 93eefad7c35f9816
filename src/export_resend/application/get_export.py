"""Read one export, as its owner sees it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from export_resend.domain.caller import Caller
from export_resend.domain.errors import ExportNotFound
from export_resend.domain.export import Export, ExportStatus
from export_resend.domain.ports import Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class ExportDetails:
    """An export and its effective status at the time it was read."""

    export: Export
    status: ExportStatus


class GetExport:
    """One export of the caller's. Raises ``ExportNotFound`` or ``ExportForbidden``."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def __call__(self, caller: Caller, export_id: UUID) -> ExportDetails:
        async with self._unit_of_work() as uow:
            export = await uow.exports.get(export_id)
        if export is None:
            raise ExportNotFound(export_id)
        export.check_visible_to(caller)
        return ExportDetails(export, export.effective_status(self._clock.now()))
