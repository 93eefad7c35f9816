"""Expiry: record READY exports past their period as EXPIRED, and delete their files."""

from __future__ import annotations

import logging

from export_resend.domain.export import ExportStatus
from export_resend.domain.ports import Clock, ConcurrentUpdate, FileStore, UnitOfWorkFactory

log = logging.getLogger(__name__)


class ExpireExports:
    """Delete the file of every READY export past ``expires_at``, then record it EXPIRED.

    Reads and rules already treat such an export as EXPIRED (its effective status); this
    frees the space and makes the stored status say so. The file goes first, so that a
    crash in between leaves an export that the next sweep finishes, never a file that no
    sweep will find again. Several sweepers may run at once. Returns how many it recorded.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        files: FileStore,
        clock: Clock,
        batch_size: int = 100,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._files = files
        self._clock = clock
        self._batch_size = batch_size

    async def __call__(self) -> int:
        expired = 0
        while True:
            now = self._clock.now()
            async with self._unit_of_work() as uow:
                due = await uow.exports.expired(now, self._batch_size)
            for export in due:
                if export.file is not None:
                    await self._files.delete(export.file.storage_key)
                try:
                    async with self._unit_of_work() as uow:
                        current = await uow.exports.get(export.id, lock=True)
                        if current is None or current.status is not ExportStatus.READY:
                            continue
                        await uow.exports.update(current.expire(now))
                        await uow.commit()
                    expired += 1
                    log.info(
                        "export %s expired; its file is deleted",
                        export.id,
                        extra={"export_id": str(export.id)},
                    )
                except ConcurrentUpdate:  # another sweeper recorded it first
                    continue
            if len(due) < self._batch_size:
                return expired
