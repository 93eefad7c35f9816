"""Export generation, as a durable job: claim a PENDING export, write its CSV, make it READY.

Requesting an export queues a ``GenerationJob`` with it. A generator claims due jobs with a
lease (``ClaimPendingExports``) and runs each (``GenerateClaimedExport``): the rows stream
from the ``RowSource`` through the CSV encoder into the ``FileStore`` in batches, so memory
stays flat whatever the row count. The export becomes READY, with its first email queued,
in one transaction that also removes the job; or FAILED, with a reason and no file. A
generator that dies mid-file leaves its job leased: when the lease ends another claims it
and starts the file over under a new name, and after ``max_attempts`` such claims the
export is FAILED rather than retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

from export_resend.application.csv_writer import CsvEncoder
from export_resend.application.telemetry import NO_METRICS
from export_resend.domain.delivery import Delivery, DeliveryKind
from export_resend.domain.errors import ExportTypeNotServed
from export_resend.domain.export import Export, ExportFile, ExportStatus
from export_resend.domain.generation import GenerationJob
from export_resend.domain.ports import (
    Clock,
    DeliveryNotifier,
    FileStore,
    GenerationMetrics,
    RowSource,
    UnitOfWorkFactory,
)
from export_resend.domain.records import (
    Record,
)

log = logging.getLogger(__name__)


def storage_key(export: Export, lease_id: UUID) -> str:
    """Where one attempt writes the file: a name of its own, so that an attempt that lost
    its lease can never overwrite the file of the attempt that won."""
    return f"{export.id}.{lease_id.hex[:12]}.csv"


@dataclass(frozen=True, slots=True)
class ClaimedExport:
    """A generation job this generator holds the lease of, and its export (``None`` if
    gone)."""

    job: GenerationJob
    export: Export | None


class GenerationFailed(Exception):
    """The rows could not be read, encoded or stored; ``reason`` says which, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExportFileWriter:
    """Stream an export's rows from the source, as CSV, into a file of the store.

    Rows go through in batches of ``batch_size``, so memory stays flat whatever the row
    count. The file is stored under ``key`` only if every row was read, encoded and
    written; otherwise nothing is, and ``GenerationFailed`` says which part failed.
    """

    def __init__(self, *, rows: RowSource, files: FileStore, batch_size: int = 1000) -> None:
        self._rows = rows
        self._files = files
        self._batch_size = batch_size

    async def __call__(self, export: Export, key: str) -> ExportFile:
        kind = export.type.kind
        try:
            records = kind.rows(self._rows, export.scope, export.filters)
        except ExportTypeNotServed as exc:
            raise GenerationFailed(str(exc)) from exc
        encoder = CsvEncoder(kind.record)
        digest = hashlib.sha256()
        size = rows = 0
        try:
            async with self._files.writer(key) as out:
                data = encoder.header_bytes()
                batches = _batches(records, self._batch_size)
                try:
                    while True:
                        digest.update(data)
                        size += len(data)
                        await out.write(data)
                        batch = await anext(batches, None)
                        if batch is None:
                            break
                        try:
                            data = encoder.encode(batch)
                        except Exception as exc:
                            reason = f"a row could not be written as CSV: {type(exc).__name__}"
                            raise GenerationFailed(reason) from exc
                        rows += len(batch)
                finally:
                    await batches.aclose()
                await out.commit()
        except GenerationFailed:
            raise
        except Exception as exc:
            raise GenerationFailed(f"the file store failed: {type(exc).__name__}") from exc
        return ExportFile(key, size, rows, digest.hexdigest())


class ClaimPendingExports:
    """Claim up to ``limit`` due generation jobs for ``lease``, with their exports, in one
    transaction. Jobs held by another generator are skipped."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, lease: timedelta) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._lease = lease

    async def __call__(self, limit: int) -> list[ClaimedExport]:
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            jobs = await uow.jobs.claim(now, uuid4(), self._lease, limit)
            claimed = [ClaimedExport(job, await uow.exports.get(job.export_id)) for job in jobs]
            await uow.commit()
        return claimed


class GenerateClaimedExport:
    """Write a claimed export's CSV, then make it READY with its first email queued.

    The outcome is recorded only while the job's lease is still held (it is renewed every
    third of ``lease`` while the file is written); an attempt that lost it deletes its own
    file and records nothing. A failure of the source, the encoding or the store makes
    the export FAILED with the reason, no file and no email. Returns the export as
    recorded, or ``None`` when nothing was.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        writer: ExportFileWriter,
        files: FileStore,
        clock: Clock,
        notifier: DeliveryNotifier,
        link_ttl: timedelta,
        lease: timedelta,
        max_attempts: int,
        message_id_domain: str,
        metrics: GenerationMetrics = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        self._unit_of_work = unit_of_work
        self._write = writer
        self._files = files
        self._clock = clock
        self._notifier = notifier
        self._link_ttl = link_ttl
        self._lease = lease
        self._max_attempts = max_attempts
        self._message_id_domain = message_id_domain

    async def __call__(self, claimed: ClaimedExport) -> Export | None:
        started = time.perf_counter()
        recorded = await self._generate(claimed)
        if recorded is not None:
            seconds = time.perf_counter() - started
            self._metrics.generation_recorded(recorded.status, seconds)
            log.info(
                "export %s generated: %s",
                recorded.id,
                recorded.status.value,
                extra={
                    "export_id": str(recorded.id),
                    "export_status": recorded.status.value,
                    "rows": recorded.file.row_count if recorded.file else None,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
        return recorded

    async def _generate(self, claimed: ClaimedExport) -> Export | None:
        job, export = claimed.job, claimed.export
        if export is None or export.status is not ExportStatus.PENDING:
            await self._settle(job, None)  # nothing left to generate
            return None
        if job.attempts > self._max_attempts:
            reason = f"generation was cut off {job.attempts - 1} times; given up"
            return await self._settle(job, export.mark_failed(reason))
        if job.lease_id is None:
            raise ValueError(f"the job of export {export.id} is not claimed")
        key = storage_key(export, job.lease_id)
        renewing = asyncio.create_task(self._renew_lease(job))
        try:
            file = await self._write(export, key)
        except GenerationFailed as exc:
            log.warning(
                "export %s failed: %s", export.id, exc.reason, extra={"export_id": str(export.id)}
            )
            return await self._settle(job, export.mark_failed(exc.reason))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        # on an error here the file stays: the transaction may have committed (a connection
        # lost during COMMIT), and a READY export without its file is worse than a stray file
        recorded = await self._settle(
            job, export.mark_ready(file, self._clock.now(), self._link_ttl)
        )
        if recorded is None:  # the lease was lost: certainly not ours to keep
            await self._files.delete(key)
        return recorded

    async def _renew_lease(self, job: GenerationJob) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._unit_of_work() as uow:
                    stored = await uow.jobs.get(job.export_id, lock=True)
                    if stored is None or not stored.held_by(job.lease_id):
                        log.warning(
                            "export %s: generation lease lost",
                            job.export_id,
                            extra={"export_id": str(job.export_id)},
                        )
                        return
                    now = self._clock.now()
                    await uow.jobs.update(stored.renewed(now, self._lease))
                    await uow.commit()
            except Exception:  # the store may be back before the lease ends
                log.exception(
                    "export %s: the generation lease could not be renewed",
                    job.export_id,
                    extra={"export_id": str(job.export_id)},
                )

    async def _settle(self, job: GenerationJob, outcome: Export | None) -> Export | None:
        """Store the export's outcome and remove the job, if the job is still ours."""
        delivery = None
        async with self._unit_of_work() as uow:
            stored = await uow.jobs.get(job.export_id, lock=True)
            if stored is None or not stored.held_by(job.lease_id):
                log.warning(
                    "export %s: generation lease lost; outcome dropped",
                    job.export_id,
                    extra={"export_id": str(job.export_id)},
                )
                return None
            if outcome is not None:
                outcome = await uow.exports.update(outcome)
                if outcome.status is ExportStatus.READY:
                    delivery = Delivery.queue(
                        outcome.id,
                        DeliveryKind.INITIAL,
                        outcome.recipients,
                        self._clock.now(),
                        self._message_id_domain,
                    )
                    await uow.deliveries.add(delivery)
            await uow.jobs.remove(job.export_id)
            await uow.commit()
        if delivery is not None:
            self._notifier.delivery_queued(delivery.id)
            log.info(
                "delivery %s queued: the first email of export %s",
                delivery.id,
                delivery.export_id,
                extra={"export_id": str(delivery.export_id), "delivery_id": str(delivery.id)},
            )
        return outcome


class ReleaseClaimedExports:
    """Give back claimed jobs unfinished: due at once, the attempt not counted. A job
    whose lease has passed to another generator is left to it."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def __call__(self, claimed: Sequence[ClaimedExport]) -> int:
        now = self._clock.now()
        released = 0
        async with self._unit_of_work() as uow:
            for item in claimed:
                stored = await uow.jobs.get(item.job.export_id, lock=True)
                if stored is not None and stored.held_by(item.job.lease_id):
                    await uow.jobs.update(stored.released(now))
                    released += 1
            await uow.commit()
        return released


async def _batches(records: AsyncIterator[Record], size: int) -> AsyncGenerator[list[Record], None]:
    batch: list[Record] = []
    try:
        while True:
            try:
                record = await anext(records)
            except StopAsyncIteration:
                break
            except Exception as exc:
                raise GenerationFailed(f"the row source failed: {type(exc).__name__}") from exc
            batch.append(record)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        close = getattr(records, "aclose", None)
        if close is not None:
            await close()
