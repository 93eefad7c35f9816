"""Delivery benchmark (issue 4, item 8): messages per second from the outbox to an SMTP sink.

In one session, against an SMTP sink that accepts and discards everything (bench/smtp_sink.py,
its own process, pinned to ``--sink-core``):

1. ``bare``: a bare aiosmtplib loop on one reused connection (and, for comparison, on 4
   connections at once) sending a message composed by the project's ``ExportEmailComposer``
   with the same commands the service's ``SmtpMailer`` sends (MAIL FROM with BODY=8BITMIME,
   one RCPT per recipient, DATA): the most a Python sender can do here. It runs against each
   sink implementation in ``--sinks``; the first one serves every later run.
2. ``dispatcher``: the real ``Container`` (mailer=smtp, PostgreSQL) in this process, its
   dispatcher running (``dispatcher_running``), with ``dispatch_concurrency`` 4 (the default)
   and 1: ``--messages`` deliveries are queued through the unit of work, then timed until
   the dispatcher is idle (every one SENT); once more with the in-memory mailer (no SMTP).
3. ``workers``: 1, 2 and 4 ``export-resend worker`` processes draining ``--messages`` queued
   deliveries, pinned to the sender's core (``pinned``) or free on every core (``free``),
   timed from their start until every delivery is SENT, and at the sink from the first
   message to the last (start-up excluded).

This process and the in-process dispatcher run on ``--sender-core``; PostgreSQL is not
pinned. Each run reads the CPU time of the senders, of the sink and of PostgreSQL (its own
processes and the backends of this database). Before the dispatcher runs,
``--round-trip-messages`` go through a counting proxy (bench/wire.py) to count the database
round trips per message. Prints a table and the ratios to the bare loop. The database is
created and dropped, the sink and the workers stopped, also on errors, Ctrl-C and SIGTERM.

    .venv/bin/python -m bench.delivery                   # 2,000 messages per run, ~2.5 min
    .venv/bin/python -m bench.delivery --quick           # 500 per run, pinned workers, ~40 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
from aiosmtplib import SMTP
from pydantic import SecretStr
from sqlalchemy.engine import URL

from bench.postgres import dsn, fresh_database, server_url, sqlalchemy_url
from bench.shutdown import cancel_on_signals
from bench.smtp_sink import IMPLEMENTATIONS
from bench.wire import WireCounter
from export_resend.adapters.clock import SystemClock
from export_resend.adapters.smtp import SmtpTls
from export_resend.adapters.sql import Database
from export_resend.application.links import DownloadLinks
from export_resend.application.message import ExportEmailComposer, default_templates
from export_resend.container import Container
from export_resend.domain.delivery import Delivery, DeliveryKind
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.recipients import Recipients
from export_resend.settings import MailerKind, Settings

ROOT = Path(__file__).resolve().parent.parent
OWNER = "olivia@bench.example.com"
MAIL_FROM = "exports@bench.example.com"
EXPORTS_PER_BATCH = 10
WORKER_COUNTS = (1, 2, 4)
PLACEMENTS = ("pinned", "free")
READY_LINE = b"export_resend.worker"


# -- measuring ---------------------------------------------------------------------------


def load_average() -> str:
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def _stat_fields(pid: int | str) -> tuple[str, list[str]] | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, text.rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (0 if it is gone)."""
    found = _stat_fields(pid)
    if found is None:
        return 0.0
    fields = found[1]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int | str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postgres_cpu_seconds(database: str | None = None) -> float | None:
    """CPU time so far of the local PostgreSQL server's own processes (postmaster, writers,
    checkpointer, autovacuum…) and of the backends connected to ``database`` (all backends
    if ``None``), read from /proc; ``None`` if no ``postgres`` process is visible. Backends of
    other databases are left out: another session's tests do not count against us."""
    ticks, found = 0, False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _stat_fields(entry.name)
        if stat is None or stat[0] != "postgres":
            continue
        found = True
        command = _cmdline(entry.name)
        client = "(" in command or "[local]" in command
        if client and database is not None and f" {database} " not in command:
            continue
        fields = stat[1]
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


async def postgres_idle(seconds: float, database: str) -> float | None:
    """PostgreSQL's CPU use (1.0 = a core) while nothing is asked of ``database``: its
    background processes."""
    if seconds <= 0:
        return None
    before = postgres_cpu_seconds(database)
    await asyncio.sleep(seconds)
    after = postgres_cpu_seconds(database)
    return None if before is None or after is None else (after - before) / seconds


@dataclass(frozen=True, slots=True)
class CpuMark:
    """CPU clocks at one moment: this process, the sink, PostgreSQL."""

    wall: float
    own: float
    sink: float
    postgres: float | None

    @classmethod
    def now(cls, sink_pid: int, database: str) -> CpuMark:
        return cls(
            time.monotonic(),
            time.process_time(),
            cpu_seconds(sink_pid),
            postgres_cpu_seconds(database),
        )


@dataclass
class Measured:
    """One run: how many messages, how long, and the CPU each party spent on them."""

    run: str
    group: str
    messages: int  # counted by the sink
    seconds: float  # start to the last reply (bare) or to every delivery SENT
    sink_span: float | None = None  # the sink's first message to its last
    startup: float | None = None  # start to the sink's first message
    sender_cpu: float = 0.0  # workers: everything, start-up included
    startup_cpu: float = 0.0  # workers: theirs until they logged READY_LINE
    sink_cpu: float = 0.0
    postgres_cpu: float | None = None
    sent_rows: int | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def steady_cpu(self) -> float:
        """The senders' CPU time for sending (workers: without their start-up)."""
        return self.sender_cpu - self.startup_cpu

    @property
    def cpu_window(self) -> float:
        """The time ``steady_cpu`` was spent in: the run, or for workers the sink's first
        to last message."""
        if self.startup_cpu and self.sink_span:
            return self.sink_span
        return self.seconds

    @property
    def sink_rate(self) -> float | None:
        if not self.sink_span or self.messages < 2:
            return None
        return (self.messages - 1) / self.sink_span


@dataclass(frozen=True, slots=True)
class SinkStat:
    messages: int
    bytes: int
    first: float
    last: float


# -- the sink, in its own process ------------------------------------------------------------


class Sink:
    """A ``bench.smtp_sink`` process, asked for its counters over its stdin and stdout."""

    def __init__(self, implementation: str, process: asyncio.subprocess.Process, port: int):
        self.implementation = implementation
        self.process = process
        self.port = port
        self._lock = asyncio.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, implementation: str, cores: str, log: Path) -> AsyncIterator[Sink]:
        argv = ["taskset", "-c", cores, sys.executable, "-m", "bench.smtp_sink"]
        with log.open("ab") as errors:
            process = await asyncio.create_subprocess_exec(
                *argv,
                "--impl",
                implementation,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                cwd=ROOT,
                start_new_session=True,
            )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            if not line.startswith(b"READY "):
                raise RuntimeError(f"the {implementation} sink did not start; see {log}")
            yield cls(implementation, process, int(line.split()[1]))
        finally:
            if process.stdin is not None:
                process.stdin.close()  # the sink exits when its stdin closes
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def _ask(self, command: str) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write(f"{command}\n".encode())
            await self.process.stdin.drain()
            return (await asyncio.wait_for(self.process.stdout.readline(), 10)).decode().strip()

    async def stat(self) -> SinkStat:
        _, messages, size, first, last = (await self._ask("stat")).split()
        return SinkStat(int(messages), int(size), float(first), float(last))

    async def reset(self) -> None:
        if await self._ask("reset") != "OK":
            raise RuntimeError("the sink did not reset")

    async def wait_for(
        self,
        count: int,
        within: float,
        watched: Sequence[asyncio.subprocess.Process] = (),
        every: float = 0.02,
    ) -> SinkStat:
        """Poll until the sink has counted ``count`` messages; fail if a watched process
        exits first."""
        deadline = time.monotonic() + within
        while True:
            stat = await self.stat()
            if stat.messages >= count:
                return stat
            gone = [p.returncode for p in watched if p.returncode is not None]
            if gone:
                raise RuntimeError(f"a worker exited ({gone}) with {stat.messages}/{count} sent")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stat.messages}/{count} messages at the sink in {within} s")
            await asyncio.sleep(every)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


# -- what is sent ----------------------------------------------------------------------------


def ready_export(now: datetime) -> Export:
    """A READY export of the owner, valid for a week, with a typical file."""
    pending = Export(
        id=uuid4(),
        tenant_id="bench",
        type=ExportType.TRANSACTION_EVENTS,
        owner_id="olivia",
        owner_email=OWNER,
        status=ExportStatus.PENDING,
        requested_at=now - timedelta(minutes=4),
    )
    file = ExportFile(f"exports/{pending.id}.csv", 1_234_567, 4_321, "0" * 64)
    return pending.mark_ready(file, now - timedelta(minutes=1), timedelta(days=7))


def recipients(index: int) -> Recipients:
    """To the owner and one CC, as tests/integration/test_workers.py queues them."""
    return Recipients(OWNER, (f"cc{index}@bench.example.com",))


def sample_message(link_secret: str) -> tuple[bytes, tuple[str, ...]]:
    """One message as the service would send it (composed by ``ExportEmailComposer``,
    flattened as ``SmtpMailer`` does for a relay with 8BITMIME), and its envelope."""
    now = SystemClock().now()
    export = ready_export(now)
    delivery = Delivery.queue(export.id, DeliveryKind.RESEND, recipients(0), now, "example.com")
    composer = ExportEmailComposer(
        sender=MAIL_FROM,
        links=DownloadLinks(secret=link_secret, public_base_url="http://127.0.0.1:8000"),
        templates=default_templates(),
    )
    email = composer.compose(export, delivery, now)
    return email.message.as_bytes(policy=policy.SMTP), tuple(email.recipients)


async def queue(database: Database, count: int) -> None:
    """``count`` QUEUED deliveries (due now) of a few READY exports, in one transaction."""
    now = SystemClock().now()
    exports = [ready_export(now) for _ in range(EXPORTS_PER_BATCH)]
    async with database.unit_of_work() as uow:
        for item in exports:
            await uow.exports.add(item)
        for i in range(count):
            delivery = Delivery.queue(
                exports[i % len(exports)].id, DeliveryKind.RESEND, recipients(i), now, "example.com"
            )
            await uow.deliveries.add(delivery)
        await uow.commit()


# -- the runs --------------------------------------------------------------------------------


class Run:
    """One benchmark session: the database, the sink, the options."""

    def __init__(
        self, args: argparse.Namespace, postgres: URL, directory: Path, all_cores: str
    ) -> None:
        self.args = args
        self.postgres = postgres
        self.url = sqlalchemy_url(postgres)
        self.directory = directory
        self.all_cores = all_cores
        self.sender_core = str(args.sender_core)
        self.queueing = Database(self.url, pool_size=2)
        self.link_secret = secrets.token_urlsafe(32)
        self.message, self.envelope = sample_message(self.link_secret)

    async def close(self) -> None:
        await self.queueing.dispose()

    def mark(self, sink: Sink) -> CpuMark:
        assert self.postgres.database is not None
        return CpuMark.now(sink.process.pid, self.postgres.database)

    async def sql(self, statement: str) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(dsn(self.postgres))
        try:
            return await connection.fetch(statement)
        finally:
            await connection.close()

    async def fresh_outbox(self) -> None:
        """Every run starts from empty tables (the same plans, no leftovers to skip)."""
        await self.sql("TRUNCATE deliveries, generation_jobs, exports")

    async def statuses(self) -> dict[str, int]:
        rows = await self.sql("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    async def wait_all_sent(self, within: float, every: float = 0.01) -> None:
        """Poll until no delivery is QUEUED or SENDING."""
        connection = await asyncpg.connect(dsn(self.postgres))
        try:
            deadline = time.monotonic() + within
            while await connection.fetchval(
                "SELECT count(*) FROM deliveries WHERE status IN ('QUEUED', 'SENDING')"
            ):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"deliveries still waiting after {within} s")
                await asyncio.sleep(every)
        finally:
            await connection.close()

    def settings(self, port: int, concurrency: int, url: str | None = None) -> Settings:
        return Settings(
            database_url=url or self.url,
            mailer=MailerKind.SMTP,
            mail_from=MAIL_FROM,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_tls=SmtpTls.NONE,
            link_secret=SecretStr(self.link_secret),
            dispatch_concurrency=concurrency,
            dispatch_poll_interval=self.args.poll_interval,
        )

    def worker_env(self, port: int) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_RESEND_")}
        return {
            **inherited,
            "EXPORT_RESEND_DATABASE_URL": self.url,
            "EXPORT_RESEND_MAILER": "smtp",
            "EXPORT_RESEND_MAIL_FROM": MAIL_FROM,
            "EXPORT_RESEND_SMTP_HOST": "127.0.0.1",
            "EXPORT_RESEND_SMTP_PORT": str(port),
            "EXPORT_RESEND_SMTP_TLS": "none",
            "EXPORT_RESEND_LINK_SECRET": self.link_secret,
            "EXPORT_RESEND_DISPATCH_POLL_INTERVAL": str(self.args.poll_interval),
        }

    async def everything(
        self,
    ) -> tuple[list[Measured], tuple[float, list[tuple[float, str]]] | None]:
        """Every run, in order: the bare loop against each sink, round trips, the
        dispatcher in-process, the workers."""
        sinks = self.args.sinks.split(",")
        results: list[Measured] = []
        round_trips = None
        core = str(self.args.sink_core)
        for implementation in sinks[1:]:  # the others: bare loop only
            log = self.directory / f"sink-{implementation}.log"
            async with Sink.running(implementation, core, log) as other:
                print(f"running bare against the {implementation} sink …", flush=True)
                results.append(await self.bare(other, 1))
        log = self.directory / f"sink-{sinks[0]}.log"
        async with Sink.running(sinks[0], core, log) as sink:
            print(f"running bare against the {sinks[0]} sink …", flush=True)
            results.insert(0, await self.bare(sink, 1))
            results.append(await self.bare(sink, 4))
            if self.args.round_trip_messages:
                print("counting round trips …", flush=True)
                round_trips = await self.round_trips(sink)
            for concurrency in (4, 1):
                print(f"running the dispatcher, concurrency {concurrency} …", flush=True)
                results.append(await self.dispatcher(sink, concurrency))
            print("running the dispatcher, concurrency 4, memory mailer …", flush=True)
            results.append(await self.dispatcher(sink, 4, smtp=False))
            for placement in [p for p in self.args.worker_placements.split(",") if p]:
                for count in [int(c) for c in self.args.workers.split(",") if c]:
                    print(f"running {count} worker(s), {placement} …", flush=True)
                    results.append(await self.workers(sink, count, placement))
        return results, round_trips

    # bare aiosmtplib --------------------------------------------------------------------

    async def _send_bare(self, smtp: SMTP, count: int) -> None:
        options = ["BODY=8BITMIME"] if smtp.supports_extension("8bitmime") else []
        for _ in range(count):
            await smtp.mail(MAIL_FROM, options=options)
            for address in self.envelope:
                await smtp.rcpt(address)
            await smtp.data(self.message)

    async def bare(self, sink: Sink, connections: int) -> Measured:
        """The message sent ``--messages`` times over ``connections`` reused connections."""
        count = self.args.messages
        clients = [
            SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False, timeout=30)
            for _ in range(connections)
        ]
        try:
            for smtp in clients:
                await smtp.connect()
                if smtp.is_ehlo_or_helo_needed:
                    await smtp.ehlo()
                await self._send_bare(smtp, max(1, self.args.warmup // connections))
            await sink.reset()
            start = self.mark(sink)
            shares = [count // connections + (i < count % connections) for i in range(connections)]
            await asyncio.gather(
                *(self._send_bare(c, n) for c, n in zip(clients, shares, strict=True))
            )
            end = self.mark(sink)
        finally:
            for smtp in clients:
                with contextlib.suppress(Exception):
                    await smtp.quit()
        stat = await sink.stat()
        plural = "s" if connections > 1 else ""
        return self._measured(
            f"bare aiosmtplib, {connections} connection{plural}",
            f"bare/{sink.implementation}",
            stat,
            start=start,
            end=end,
            sender_cpu=end.own - start.own,
            note=f"sink: {sink.implementation}",
        )

    # the dispatcher in this process -----------------------------------------------------

    async def dispatcher(self, sink: Sink, concurrency: int, *, smtp: bool = True) -> Measured:
        """The container's dispatcher, warmed up, then timed over ``--messages`` queued at
        once until it is idle. Without ``smtp``, the container's in-memory mailer takes
        the messages instead: the dispatcher's own cost, with no SMTP at all."""
        count = self.args.messages
        await self.fresh_outbox()
        settings = self.settings(sink.port, concurrency)
        if not smtp:
            settings = settings.model_copy(update={"mailer": MailerKind.MEMORY})
        container = Container(settings=settings)
        try:
            await container.database_opened.init()  # type: ignore[misc]
            dispatcher = await container.dispatcher_running.init()  # type: ignore[misc]
            if self.args.warmup:
                await queue(self.queueing, self.args.warmup)
                dispatcher.delivery_queued(uuid4())
                await asyncio.wait_for(dispatcher.idle(), self.args.timeout)
            await sink.reset()
            await queue(self.queueing, count)
            start = self.mark(sink)
            dispatcher.delivery_queued(uuid4())  # as the resend use case tells it
            await asyncio.wait_for(dispatcher.idle(), self.args.timeout)
            end = self.mark(sink)
        finally:
            stopping = container.shutdown_resources()
            if stopping is not None:
                await stopping
        statuses = await self.statuses()
        sent = statuses.get("SENT", 0) - self.args.warmup
        if smtp:
            stat = await sink.stat()
        else:  # nothing reached the sink: count the rows SENT
            stat = SinkStat(sent, 0, start.wall, start.wall)
        measured = self._measured(
            f"dispatcher in-process, concurrency {concurrency}"
            + ("" if smtp else ", memory mailer"),
            "dispatcher" if smtp else "dispatcher/memory",
            stat,
            start=start,
            end=end,
            sender_cpu=end.own - start.own,
            sent_rows=sent,
            note=_others(statuses),
        )
        if not smtp:
            measured.sink_span = measured.startup = None
            measured.note = f"no SMTP {measured.note}".strip()
        return measured

    # worker processes ---------------------------------------------------------------------

    async def workers(self, sink: Sink, count: int, placement: str) -> Measured:
        """``count`` ``export-resend worker`` processes draining ``--messages`` queued rows."""
        messages = self.args.messages
        cores = self.sender_core if placement == "pinned" else self.all_cores
        await self.fresh_outbox()
        await queue(self.queueing, messages)
        await sink.reset()
        argv = ["taskset", "-c", cores, sys.executable, "-m", "export_resend.cli", "worker"]
        env = self.worker_env(sink.port)
        processes: list[asyncio.subprocess.Process] = []
        logs = [self.directory / f"workers-{count}-{placement}-{i}.log" for i in range(count)]
        start = self.mark(sink)
        try:
            for log in logs:
                with log.open("ab") as output:
                    processes.append(
                        await asyncio.create_subprocess_exec(
                            *argv,
                            env=env,
                            stdout=output,
                            stderr=output,
                            cwd=ROOT,
                            start_new_session=True,
                        )
                    )
            ready = asyncio.create_task(_startup_cpu(processes, logs, self.args.timeout))
            try:
                await sink.wait_for(messages, self.args.timeout, processes)
                await self.wait_all_sent(self.args.timeout)
                end = self.mark(sink)
                workers_cpu = sum(cpu_seconds(p.pid) for p in processes)
                startup_cpu = sum(await asyncio.wait_for(ready, 5))
            finally:
                ready.cancel()
        finally:
            codes = await _stop(processes)
        stat = await sink.stat()
        statuses = await self.statuses()
        note = _others(statuses)
        if any(codes):
            note = f"{note} exit codes {codes}; see {logs[0].parent}".strip()
        measured = self._measured(
            f"{count} worker{'s' if count > 1 else ''}, {placement} (cpu {cores})",
            f"workers/{placement}",
            stat,
            start=start,
            end=end,
            sender_cpu=workers_cpu,
            sent_rows=statuses.get("SENT", 0),
            note=note,
        )
        measured.startup_cpu = startup_cpu
        measured.note = f"start-up CPU {startup_cpu / count:.2f} s each {measured.note}".strip()
        return measured

    # round trips --------------------------------------------------------------------------

    async def round_trips(self, sink: Sink) -> tuple[float, list[tuple[float, str]]]:
        """Database round trips per message of the in-process dispatcher (concurrency 4),
        counted through bench/wire.py."""
        count = self.args.round_trip_messages
        counter = WireCounter(self.postgres.host or "127.0.0.1", self.postgres.port or 5432)
        proxied = self.postgres.set(host="127.0.0.1", port=await counter.start())
        await self.fresh_outbox()
        container = Container(settings=self.settings(sink.port, 4, sqlalchemy_url(proxied)))
        try:
            await container.database_opened.init()  # type: ignore[misc]
            dispatcher = await container.dispatcher_running.init()  # type: ignore[misc]
            await queue(self.queueing, 20)
            dispatcher.delivery_queued(uuid4())
            await asyncio.wait_for(dispatcher.idle(), self.args.timeout)
            await queue(self.queueing, count)
            counter.reset()
            dispatcher.delivery_queued(uuid4())
            await asyncio.wait_for(dispatcher.idle(), self.args.timeout)
            trips = sum(counter.round_trips.values()) / count
            breakdown = [(n / count, label) for label, n in counter.round_trips.most_common()]
        finally:
            stopping = container.shutdown_resources()
            if stopping is not None:
                await stopping
            await counter.close()
        return trips, breakdown

    def _measured(
        self,
        run: str,
        group: str,
        stat: SinkStat,
        *,
        start: CpuMark,
        end: CpuMark,
        sender_cpu: float,
        sent_rows: int | None = None,
        note: str = "",
    ) -> Measured:
        postgres = None
        if start.postgres is not None and end.postgres is not None:
            postgres = end.postgres - start.postgres
        return Measured(
            run=run,
            group=group,
            messages=stat.messages,
            seconds=end.wall - start.wall,
            sink_span=stat.last - stat.first if stat.messages else None,
            startup=stat.first - start.wall if stat.messages else None,
            sender_cpu=sender_cpu,
            sink_cpu=end.sink - start.sink,
            postgres_cpu=postgres,
            sent_rows=sent_rows,
            note=note,
        )


def _others(statuses: dict[str, int]) -> str:
    """The statuses other than SENT, if any (a run should leave none)."""
    return " ".join(f"{k}={v}" for k, v in sorted(statuses.items()) if k != "SENT")


async def _startup_cpu(
    processes: Sequence[asyncio.subprocess.Process], logs: Sequence[Path], within: float
) -> list[float]:
    """Each worker's CPU time when it logs that it is dispatching (imports, settings, the
    container, the database check): its start-up, to leave out of its CPU per message.
    0 for a worker that exits or says nothing within ``within`` seconds."""
    found: list[float | None] = [None] * len(processes)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for i, (process, log) in enumerate(zip(processes, logs, strict=True)):
            if found[i] is None and (
                process.returncode is not None or READY_LINE in log.read_bytes()
            ):
                found[i] = cpu_seconds(process.pid)
        if None not in found:
            break
        await asyncio.sleep(0.01)
    return [cpu or 0.0 for cpu in found]


async def _stop(processes: Sequence[asyncio.subprocess.Process]) -> list[int]:
    """SIGTERM (the worker's own shutdown), then SIGKILL after 20 s; the exit codes."""
    for process in processes:
        if process.returncode is None:
            process.terminate()
    codes = []
    for process in processes:
        try:
            codes.append(await asyncio.wait_for(process.wait(), 20))
        except TimeoutError:
            process.kill()
            codes.append(await process.wait())
    return codes


# -- report ----------------------------------------------------------------------------------


def report(
    results: Sequence[Measured],
    round_trips: tuple[float, list[tuple[float, str]]] | None,
    args: argparse.Namespace,
) -> list[str]:
    """Print the table and the ratios; returns what failed."""
    print(
        f"\n== delivery: {args.messages} messages per run (message {args.message_bytes:,} bytes, "
        f"2 recipients); senders on core {args.sender_core} unless said, sink on core "
        f"{args.sink_core}, PostgreSQL unpinned"
    )
    width = max(len(r.run) for r in results)
    print(
        f"{'run':{width}} {'msgs':>6} {'wall s':>7} {'msg/s':>7} {'sink msg/s':>10} "
        f"{'start s':>7} {'sender CPU':>10} {'sender µs':>9} {'sink µs':>8} {'pg µs':>7}  note"
    )
    failures = []
    for r in results:
        sink_rate = "-" if r.sink_rate is None else f"{r.sink_rate:.0f}"
        startup = "-" if r.startup is None or r.group.startswith("bare") else f"{r.startup:.2f}"
        per = max(1, r.messages)
        pg = "-" if r.postgres_cpu is None else f"{1e6 * r.postgres_cpu / per:.0f}"
        print(
            f"{r.run:{width}} {r.messages:6} {r.seconds:7.2f} {r.rate:7.0f} {sink_rate:>10} "
            f"{startup:>7} {100 * r.steady_cpu / r.cpu_window:9.0f}% "
            f"{1e6 * r.steady_cpu / per:9.0f} {1e6 * r.sink_cpu / per:8.0f} {pg:>7}  {r.note}"
        )
        if r.messages != args.messages:
            failures.append(f"{r.run}: the sink counted {r.messages} of {args.messages} messages")
        if r.sent_rows is not None and r.sent_rows != args.messages:
            failures.append(f"{r.run}: {r.sent_rows} of {args.messages} deliveries SENT")
        if "exit codes" in r.note:
            failures.append(f"{r.run}: {r.note}")
    print(
        "(msg/s: messages / wall time, from the start (workers: their launch) to the last SENT "
        "row, or the last reply for bare; sink msg/s: from the first message to the last at "
        "the sink, start-up excluded; start s: launch to the first message; sender CPU: the "
        "sending processes' CPU use, 100 % = one core (workers: summed, without their "
        "start-up CPU, over the first to the last message); µs: CPU time per message of the "
        "senders (workers: without start-up), the sink and every PostgreSQL process, "
        "background work included)"
    )
    baseline = next((r for r in results if r.group.startswith("bare") and "1 conn" in r.run), None)
    if baseline is not None:
        print(f"\n== ratios to '{baseline.run}' ({baseline.note}, {baseline.rate:.0f} msg/s)")
        for r in results:
            if r is baseline:
                continue
            line = f"{r.run:{width}} {r.rate / baseline.rate:5.2f}x"
            if r.sink_rate is not None and not r.group.startswith("bare"):
                line += f"   (first to last at the sink: {r.sink_rate / baseline.rate:5.2f}x)"
            print(line)
    if round_trips is not None:
        trips, breakdown = round_trips
        print(
            f"\n== database round trips per message, in-process dispatcher, concurrency 4, "
            f"{args.round_trip_messages} messages: {trips:.2f}"
        )
        for per_message, label in breakdown:
            print(f"  {per_message:5.2f}  {label}")
    return failures


# -- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is missing: apt-get install -y util-linux")
    cancel_on_signals()
    all_cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    os.sched_setaffinity(0, {args.sender_core})  # this process: bare loop, dispatcher
    for implementation in args.sinks.split(","):
        if implementation not in IMPLEMENTATIONS:
            raise SystemExit(f"unknown sink {implementation!r}: from {IMPLEMENTATIONS}")
    before = load_average()
    print(f"load average before: {before}")
    idle = None
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_") as scratch:
        directory = Path(scratch)
        async with fresh_database(server_url(args.server)) as postgres:
            print(f"database: {postgres.database}; logs: {directory}", flush=True)
            assert postgres.database is not None
            idle = await postgres_idle(args.idle_seconds, postgres.database)
            if idle is not None:
                print(f"PostgreSQL's own processes, idle: {100 * idle:.1f} % of a core")
            session = Run(args, postgres, directory, all_cores)
            args.message_bytes = len(session.message)
            try:
                results, round_trips = await session.everything()
            finally:
                await session.close()
    failures = report(results, round_trips, args)
    after = load_average()
    print(f"\nload average after: {after}")
    for failure in failures:
        print(f"FAILED: {failure}")
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": vars(args),
        "load_before": before,
        "postgres_idle": idle,
        "load_after": after,
        "results": [{**asdict(r), "rate": r.rate, "sink_rate": r.sink_rate} for r in results],
        "round_trips": round_trips,
        "failures": failures,
    }
    return (1 if failures else 0), payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, help="messages per run (default 2000)")
    parser.add_argument("--quick", action="store_true", help="500 messages per run, fewer runs")
    parser.add_argument("--warmup", type=int, default=100, help="messages sent before timing")
    parser.add_argument(
        "--sinks",
        default="minimal,aiosmtpd",
        help="sink implementations for the bare loop; the first serves every run",
    )
    parser.add_argument("--workers", default=",".join(map(str, WORKER_COUNTS)))
    parser.add_argument(
        "--worker-placements",
        default=",".join(PLACEMENTS),
        help="pinned: on the sender's core; free: on every core",
    )
    parser.add_argument("--sender-core", type=int, default=0)
    parser.add_argument("--sink-core", type=int, default=1)
    parser.add_argument("--poll-interval", type=float, default=0.1, help="dispatch poll, s")
    parser.add_argument("--round-trip-messages", type=int, default=200, help="0: do not count")
    parser.add_argument(
        "--idle-seconds", type=float, default=3, help="PostgreSQL's idle CPU measured first"
    )
    parser.add_argument("--timeout", type=float, default=300, help="per run, s")
    parser.add_argument("--server", help="SQLAlchemy URL of the PostgreSQL server")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.messages is None:
        args.messages = 500 if args.quick else 2000
    if args.quick:
        args.worker_placements = "pinned"
        args.round_trip_messages = min(args.round_trip_messages, 100)
    if args.messages < 2:
        parser.error("--messages must be at least 2")
    try:
        status, payload = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: sink and workers stopped, database dropped", file=sys.stderr)
        sys.exit(130)
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    sys.exit(status)


if __name__ == "__main__":
    main()
