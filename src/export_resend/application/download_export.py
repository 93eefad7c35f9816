"""Download an export's file with the signed link of an email: the token is the credential."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from export_resend.domain.errors import ExportNotFound
from export_resend.domain.export import Export, ExportFile
from export_resend.domain.ports import (
    Clock,
    DownloadLinks,
    FileMissing,
    FileStore,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


def download_name(export: Export) -> str:
    """The file name offered to the browser: type, request date and id,
    ``transaction-events_2026-11-25_<id>.csv``."""
    return f"{export.type.kind.slug}_{export.requested_at:%Y-%m-%d}_{export.id}.csv"


@dataclass(frozen=True, slots=True)
class Download:
    """The file of a READY export, opened: iterate ``chunks`` to the end, or ``aclose()``
    it."""

    export: Export
    file: ExportFile
    filename: str
    chunks: AsyncIterator[bytes]


class DownloadExport:
    """Open the file a download link names.

    ``ExportNotFound`` for a token this service did not sign, one that names another
    export, or an export that is not (or never was) READY; ``ExportExpired`` once the
    download period is over, even before the sweep has recorded it.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        files: FileStore,
        links: DownloadLinks,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._files = files
        self._links = links
        self._clock = clock

    async def __call__(self, export_id: UUID, token: str) -> Download:
        if self._links.export_id(token) != export_id:
            raise ExportNotFound(export_id)
        async with self._unit_of_work() as uow:
            export = await uow.exports.get(export_id)
        if export is None:
            raise ExportNotFound(export_id)
        file = export.check_downloadable(self._clock.now())
        try:
            chunks = await self._files.open(file.storage_key)
        except FileMissing:  # lost by the store: say so loudly, answer as for no file
            log.error(
                "export %s is READY but its file %s is missing",
                export_id,
                file.storage_key,
                extra={"export_id": str(export_id)},
            )
            raise ExportNotFound(export_id) from None
        return Download(export, file, download_name(export), chunks)
