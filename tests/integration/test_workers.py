"""``export-resend worker`` processes sharing one PostgreSQL outbox: they drain it exactly once
together, and the rows of a worker killed mid-batch come back when their lease ends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest

from export_resend.adapters.clock import SystemClock
from export_resend.adapters.sql import AsyncpgUnitOfWork, Database
from export_resend.domain.delivery import Delivery, DeliveryKind, DeliveryStatus
from export_resend.domain.recipients import Recipients
from tests.conftest import LINK_SECRET
from tests.factories import caller, export
from tests.postgres import migrated_scratch_database
from tests.smtp import SmtpServer

OLIVIA = caller("olivia", "acme")


@pytest.fixture
async def outbox() -> AsyncIterator[tuple[str, Database]]:
    """A migrated PostgreSQL database of this test's own, so no other test's rows are due."""
    async with migrated_scratch_database() as opened:
        yield opened


async def _queue(database: Database, count: int) -> list[Delivery]:
    now = SystemClock().now()
    exports = [export(OLIVIA, ready_at=now) for _ in range(10)]
    deliveries = [
        Delivery.queue(
            exports[i % len(exports)].id,
            DeliveryKind.RESEND,
            Recipients(OLIVIA.email, (f"cc{i}@x.io",)),
            now,
            "example.com",
        )
        for i in range(count)
    ]
    async with AsyncpgUnitOfWork(database.engine) as uow:
        for item in exports:
            await uow.exports.add(item)
        for delivery in deliveries:
            await uow.deliveries.add(delivery)
        await uow.commit()
    return deliveries


@contextmanager
def _workers(
    count: int, url: str, server: SmtpServer, logs: Path, **settings: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes; their logs go to files under ``logs``, shown on failure."""
    env = {
        **os.environ,
        "EXPORT_RESEND_DATABASE_URL": url,
        "EXPORT_RESEND_LINK_SECRET": LINK_SECRET,
        "EXPORT_RESEND_MAILER": "smtp",
        "EXPORT_RESEND_SMTP_HOST": server.host,
        "EXPORT_RESEND_SMTP_PORT": str(server.port),
        "EXPORT_RESEND_SMTP_TLS": "none",
        "EXPORT_RESEND_DISPATCH_POLL_INTERVAL": "0.1",
        **{f"EXPORT_RESEND_{name.upper()}": value for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "export_resend.cli", "worker"]
    processes, files = [], []
    for _ in range(count):
        log = (logs / f"worker-{len(list(logs.iterdir()))}.log").open("wb")
        files.append(log)
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
    try:
        yield processes
    except BaseException:
        for log in files:
            log.flush()
            print(f"--- {log.name}", Path(log.name).read_text()[-3000:], sep="\n")
        raise
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in files:
            log.close()


async def _rows(database: Database, ids: list[UUID]) -> list[Delivery]:
    async with AsyncpgUnitOfWork(database.engine) as uow:
        found = [await uow.deliveries.get(i) for i in ids]
    assert None not in found
    return [d for d in found if d is not None]


async def _until_all_sent(database: Database, ids: list[UUID], within: float) -> list[Delivery]:
    async with asyncio.timeout(within):
        while True:
            rows = await _rows(database, ids)
            if all(d.status is DeliveryStatus.SENT for d in rows):
                return rows
            await asyncio.sleep(0.2)


@pytest.mark.postgres
async def test_four_workers_deliver_two_thousand_emails_exactly_once(
    outbox: tuple[str, Database], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    url, database = outbox
    queued = await _queue(database, 2000)
    with _workers(4, url, smtp_server, tmp_path, delivery_lease="60") as workers:
        rows = await _until_all_sent(database, [d.id for d in queued], within=240)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(w.wait, 20) for w in workers]
    assert codes == [0, 0, 0, 0]
    counts = Counter(smtp_server.message_ids())
    assert set(counts) == {d.message_id for d in queued}
    assert max(counts.values()) == 1
    assert {d.attempts for d in rows} == {1}


@pytest.mark.postgres
async def test_a_killed_workers_rows_are_delivered_by_the_others_after_its_lease(
    outbox: tuple[str, Database], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    url, database = outbox
    queued = await _queue(database, 40)
    ids = [d.id for d in queued]
    smtp_server.delay = 0.5  # so that the first worker is mid-batch when it dies
    settings = {"delivery_lease": "3", "smtp_timeout": "1"}
    with _workers(1, url, smtp_server, tmp_path, **settings) as [doomed]:
        await smtp_server.wait_for_async(1, 30)
        doomed.kill()  # SIGKILL: no chance to release anything
        await asyncio.to_thread(doomed.wait, 10)
    held = [d for d in await _rows(database, ids) if d.status is DeliveryStatus.SENDING]
    assert held, "the killed worker held no delivery: nothing was tested"
    smtp_server.delay = 0
    with _workers(2, url, smtp_server, tmp_path, **settings):
        rows = await _until_all_sent(database, ids, within=60)
    by_id = {d.id: d for d in rows}
    for delivery in held:
        sent_at = by_id[delivery.id].sent_at
        assert sent_at is not None
        assert sent_at >= delivery.next_attempt_at  # not before the dead worker's lease ended
    counts = Counter(smtp_server.message_ids())
    assert set(counts) == {d.message_id for d in queued}
    # a message the dead worker had on the wire may have arrived and be sent again: at least once
    assert all(counts[d.message_id] == 1 for d in queued if d.id not in {h.id for h in held})
