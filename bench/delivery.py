"""Delivery benchmark (issue 14): messages per second from the outbox to an SMTP sink.

Black-box, in one run, against a minimal SMTP sink in its own process pinned to
``--sink-core`` (bench/smtp_sink.py, which counts every message and keeps none):

- the peers, bare aiosmtplib in a process of their own pinned to ``--sender-core``
  (bench/smtp_peer.py): ``raw-N``, a message built per message from a raw template on N
  reused connections; ``email-N``, an ``EmailMessage`` per message and ``send_message``;
- ``ours-wN``: N ``export-resend worker`` processes of this checkout sending ``--messages``
  deliveries (To + 2 Cc) queued beforehand through the API (``export-resend serve``, its
  dispatcher off, ``POST /v1/exports/{id}/resend-email``); one worker pinned to the sender's
  core, two or more free on every core (``@pinned`` or ``@free`` to choose); options as in
  bench/throughput.py, e.g. ``ours-w1+mailer=memory`` (no SMTP at all);
- ``base-wN``: the same from another checkout (``--baseline-src``, ``--baseline-python``),
  on a database its own code migrated, seeded and queued through its own API.

Rounds alternate between the runs (A B C A B C …); each run's figures are the median and
range over rounds, and each ratio to ``--reference`` (``raw-1``) is taken within a round.
Workers are timed from their launch until every delivery is SENT, and at the sink from its
first message to its last (start-up excluded); their CPU per message is taken in the steady
part, between 10 % and 90 % of the messages at the sink. Each run must deliver exactly
``--messages`` messages, each delivery SENT once and nothing else left (exit status 1
otherwise). Databases, sink, servers and workers are cleaned up, also on errors, Ctrl-C and
SIGTERM.

    .venv/bin/python -m bench.delivery                       # ~4 min
    .venv/bin/python -m bench.delivery --runs raw-1,ours-w1 --rounds 5 --messages 1000
    .venv/bin/python -m bench.delivery --runs raw-1,base-w1,ours-w1 --baseline-src ../main/src
    .venv/bin/python -m bench.delivery --smoke                # ~15 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from bench import harness, loadgen
from bench.harness import Code, Spread
from bench.postgres import dsn, empty_database, server_url, sqlalchemy_url
from bench.profile import summarise
from bench.seed import make_spec, resendable
from bench.shutdown import cancel_on_signals
from bench.smtp_sink import IMPLEMENTATIONS
from bench.wire import WireCounter

MAIL_FROM = "exports@bench.example.com"
LINK_SECRET = "bench-only-link-secret-0123456789abcdef"  # noqa: S105 (no link is clicked)
DEFAULT_RUNS = "raw-1,email-1,raw-4,ours-w1,ours-w2"
SMOKE_RUNS = "raw-1,email-1,raw-4,ours-w1,ours-w2,base-w1"
RUN = re.compile(r"^(?P<who>raw|email|ours|base)-(?P<w>w?)(?P<n>\d+)(?:@(?P<where>pinned|free))?$")
GOAL_RATIO = 0.8  # one worker against raw-1, msg/s
GOAL_CPU_US = 1200  # one worker, µs per message
GOAL_SCALING = 1.15  # two workers' CPU per message against one's


# -- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """One run, as named on the command line."""

    name: str
    kind: str  # raw, email, worker
    count: int  # connections, or workers
    free: bool = False  # workers on every core, not pinned to the sender's
    code: Code | None = None
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def smtp(self) -> bool:
        return dict(self.settings).get("EXPORT_RESEND_MAILER", "smtp") == "smtp"


def parse_run(name: str, codes: dict[str, Code]) -> Spec:
    base, *options = name.split("+")
    match = RUN.match(base)
    if match is None or int(match["n"]) < 1:
        raise SystemExit(f"unknown run {name!r}: raw-N, email-N, ours-wN[@pinned|@free], base-wN")
    who, count = match["who"], int(match["n"])
    if who in ("raw", "email"):
        if match["w"] or match["where"] or options:
            raise SystemExit(f"{name}: raw-N and email-N take no worker options")
        return Spec(name, who, count)
    if not match["w"]:
        raise SystemExit(f"{name}: workers are ours-wN or base-wN")
    if who not in codes:
        raise SystemExit(f"{name}: give --baseline-src or --baseline-python for base-…")
    settings = []
    for option in options:
        key, equals, value = option.partition("=")
        if not equals or not key:
            raise SystemExit(f"{name}: option {option!r} is not NAME=VALUE")
        settings.append((f"EXPORT_RESEND_{key.upper()}", value))
    free = match["where"] == "free" if match["where"] else count > 1
    return Spec(name, "worker", count, free, codes[who], tuple(settings))


# -- the sink, in its own process ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SinkStat:
    messages: int
    bytes: int
    first: float
    last: float


class Sink:
    """A ``bench.smtp_sink`` process, asked for its counters over its stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self._lock = asyncio.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, implementation: str, core: int, log: Path) -> AsyncIterator[Sink]:
        argv = [sys.executable, "-m", "bench.smtp_sink", "--impl", implementation]
        process = await harness.spawn(
            harness.pinned(core, argv),
            log=log,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            if not line.startswith(b"READY "):
                raise RuntimeError(f"the sink did not start:\n{harness.tail(log)}")
            yield cls(process, int(line.split()[1]))
        finally:
            if process.stdin is not None:
                process.stdin.close()  # the sink exits when its stdin closes
            await harness.stop(process, 10)

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

    def cpu(self) -> float:
        return harness.cpu_seconds(self.process.pid)


# -- figures ---------------------------------------------------------------------------------


WORKER_STARTED = "sending emails and generating exports"
"""What a worker logs once its signal handlers are in place."""


def _logged_start(log: Path) -> bool:
    return log.exists() and WORKER_STARTED in log.read_text(errors="replace")


async def _started(process: asyncio.subprocess.Process, log: Path) -> None:
    """Wait until the worker logged that it runs (or ended; at most 30 s)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while process.returncode is None and not _logged_start(log):  # noqa: ASYNC110 (a file)
                await asyncio.sleep(0.05)


@dataclass
class Measured:
    """One run in one round."""

    run: str
    round: int
    messages: int  # counted by the sink (or SENT rows, with no SMTP)
    seconds: float  # start (workers: their launch) to the last reply (peers) or last SENT
    bytes_per_message: float = 0.0
    sink_span: float | None = None  # the sink's first message to its last
    startup: float | None = None  # launch to the sink's first message
    sender_cpu: float = 0.0  # the peer's, or the workers' in the steady window
    steady_messages: int = 0  # messages in that window
    steady_seconds: float = 0.0
    startup_cpu: float | None = None  # workers' CPU when the first message reached the sink
    sink_cpu: float = 0.0
    postgres_cpu: float | None = None
    sent_rows: int | None = None
    others: dict[str, int] = field(default_factory=dict)  # rows not SENT
    exit_codes: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def sink_rate(self) -> float | None:
        if not self.sink_span or self.messages < 2:
            return None
        return (self.messages - 1) / self.sink_span

    @property
    def sender_us(self) -> float | None:
        """The senders' CPU per message (workers: in the steady window)."""
        if not self.steady_messages:
            return None
        return 1e6 * self.sender_cpu / self.steady_messages

    @property
    def sender_busy(self) -> float | None:
        return self.sender_cpu / self.steady_seconds if self.steady_seconds else None


@dataclass(frozen=True, slots=True)
class Point:
    """One sample while workers run."""

    at: float
    workers_cpu: float
    sink_messages: int


def steady(points: Sequence[Point], total: int) -> tuple[float, int, float] | None:
    """CPU, messages and seconds between the samples where the sink had 10 % and 90 % of
    ``total`` messages: the workers' steady state, without start-up or tail."""
    first = next((p for p in points if p.sink_messages >= total * 0.1), None)
    last = next((p for p in points if p.sink_messages >= total * 0.9), None)
    if first is None or last is None or last.sink_messages <= first.sink_messages:
        return None
    return (
        last.workers_cpu - first.workers_cpu,
        last.sink_messages - first.sink_messages,
        last.at - first.at,
    )


# -- the run ---------------------------------------------------------------------------------


class Run:
    """One benchmark session: databases, sink, queueing servers, options."""

    def __init__(self, args: argparse.Namespace, directory: Path, specs: list[Spec]) -> None:
        self.args = args
        self.directory = directory
        self.specs = specs
        self.spec = make_spec(args.users, args.exports)
        self.postgres: dict[str, URL] = {}  # by code name
        self.queueing: dict[str, int] = {}  # the port of each code's serve
        self.results: list[Measured] = []
        self.round_trips: dict[str, Any] | None = None
        self.profiles: dict[str, str] = {}
        # smoke runs profile too (py-spy must still work), into their own scratch directory
        self.profile_dir: Path | None = Path(args.profile) if args.profile else None
        if self.profile_dir is None and args.smoke:
            self.profile_dir = directory / "profiles"
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.failures: list[str] = []
        self.all_cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        cc = ["finance@bench.example.com", "audit@bench.example.com"]
        body = json.dumps({"cc": cc}).encode()
        self.resends = [
            loadgen.Request(
                "POST",
                f"/v1/exports/{r.export_id}/resend-email",
                {
                    "dj-api-key": r.api_key,
                    "dj-client": r.client,
                    "Content-Type": "application/json",
                },
                body,
            )
            for r in resendable(self.spec)
        ]

    # data and servers ---------------------------------------------------------------------

    async def prepare(self, stack: contextlib.AsyncExitStack) -> None:
        """Per code with worker runs: a database migrated and seeded by that code, and that
        code's ``serve`` (dispatcher off) to queue deliveries through."""
        server = server_url(self.args.server)
        spec_file = self.directory / "spec.json"
        spec_file.write_text(json.dumps(self.spec))
        workers = {s.code.name: s.code for s in self.specs if s.code is not None}
        for name, code in workers.items():
            url = await stack.enter_async_context(empty_database(server))
            log = self.directory / f"seed-{name}.log"
            argv = code.argv("-m", "bench.seed", "--database-url", sqlalchemy_url(url))
            status, out = await harness.run_to_end(
                [*argv, "--spec", str(spec_file)], env=code.env(), log=log
            )
            if status != 0 or not out.startswith("SEEDED"):
                raise RuntimeError(f"seeding with {name} failed ({status}):\n{harness.tail(log)}")
            self.postgres[name] = url
            self.queueing[name] = await stack.enter_async_context(self.serving(code, url))
            print(f"  {name}: database {url.database}, seeded and served by its code", flush=True)

    @contextlib.asynccontextmanager
    async def serving(self, code: Code, url: URL) -> AsyncIterator[int]:
        """``export-resend serve`` of ``code``: queues resends, sends nothing."""
        env = code.env(
            {
                "EXPORT_RESEND_DATABASE_URL": sqlalchemy_url(url),
                "EXPORT_RESEND_SERVE_DISPATCHER": "false",
                "EXPORT_RESEND_LINK_SECRET": LINK_SECRET,
                "EXPORT_RESEND_MAIL_FROM": MAIL_FROM,
                "EXPORT_RESEND_RESEND_LIMIT_PER_HOUR": "10000",
                "EXPORT_RESEND_FILES_DIR": str(self.directory / f"files-{code.name}"),
                "EXPORT_RESEND_LOG_LEVEL": "WARNING",
            }
        )
        log = self.directory / f"serve-{code.name}.log"

        def command(port: int) -> tuple[list[str], dict[str, str]]:
            return code.argv("-m", "export_resend.cli", "serve", "--port", str(port)), env

        async with harness.listening(command, log) as (port, _):
            yield port

    async def sql(self, code: str, statement: str) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(dsn(self.postgres[code]))
        try:
            return await connection.fetch(statement)
        finally:
            await connection.close()

    async def statuses(self, code: str) -> dict[str, int]:
        rows = await self.sql(code, "SELECT status, count(*) AS n FROM deliveries GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    async def queue(self, code: str, count: int) -> None:
        """An empty outbox, then ``count`` resends through the API (To + 2 Cc each)."""
        await self.sql(code, "TRUNCATE deliveries CASCADE")
        figures = await loadgen.load(self.queueing[code], self.resends, connections=8, total=count)
        if figures["statuses"] != {"200": count}:
            raise RuntimeError(f"queueing {count} resends through the API: {figures['statuses']}")
        queued = (await self.statuses(code)).get("QUEUED", 0)
        if queued != count:
            raise RuntimeError(f"{count} resends answered 200, {queued} deliveries QUEUED")

    def worker_env(self, spec: Spec, sink: Sink, url: URL) -> dict[str, str]:
        assert spec.code is not None
        return spec.code.env(
            {
                "EXPORT_RESEND_DATABASE_URL": sqlalchemy_url(url),
                "EXPORT_RESEND_MAILER": "smtp",
                "EXPORT_RESEND_MAIL_FROM": MAIL_FROM,
                "EXPORT_RESEND_SMTP_HOST": "127.0.0.1",
                "EXPORT_RESEND_SMTP_PORT": str(sink.port),
                "EXPORT_RESEND_SMTP_TLS": "none",
                "EXPORT_RESEND_LINK_SECRET": LINK_SECRET,
                "EXPORT_RESEND_FILES_DIR": str(self.directory / f"files-{spec.code.name}"),
                **dict(spec.settings),
            }
        )

    # peers --------------------------------------------------------------------------------

    async def peer(self, spec: Spec, sink: Sink, round_number: int) -> Measured:
        """bench/smtp_peer.py pinned to the sender's core: warm-up, then timed."""
        argv = [sys.executable, "-m", "bench.smtp_peer", "--port", str(sink.port)]
        argv += ["--mode", spec.kind, "--connections", str(spec.count)]
        argv += ["--messages", str(self.args.messages), "--warmup", str(self.args.warmup)]
        log = self.directory / f"{spec.name}.log"
        process = await harness.spawn(
            harness.pinned(self.args.sender_core, argv),
            log=log,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), self.args.timeout)
            if line.strip() != b"WARM":
                raise RuntimeError(f"{spec.name} did not warm up:\n{harness.tail(log)}")
            await sink.reset()
            sink_start = sink.cpu()
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            line = await asyncio.wait_for(process.stdout.readline(), self.args.timeout)
            await asyncio.wait_for(process.wait(), 30)
        finally:
            await harness.stop(process, 5)
        if not line.startswith(b"BENCH-JSON ") or process.returncode:
            raise RuntimeError(f"{spec.name} failed ({process.returncode}):\n{harness.tail(log)}")
        figures = json.loads(line.removeprefix(b"BENCH-JSON "))
        stat = await sink.stat()
        return Measured(
            run=spec.name,
            round=round_number,
            messages=stat.messages,
            seconds=figures["seconds"],
            bytes_per_message=stat.bytes / max(1, stat.messages),
            sink_span=stat.last - stat.first if stat.messages else None,
            sender_cpu=figures["cpu_s"],
            steady_messages=stat.messages,
            steady_seconds=figures["seconds"],
            sink_cpu=sink.cpu() - sink_start,
            exit_codes=[process.returncode or 0],
        )

    # workers ------------------------------------------------------------------------------

    async def workers(self, spec: Spec, sink: Sink, round_number: int) -> Measured:
        """``spec.count`` ``export-resend worker`` processes draining ``--messages`` queued
        deliveries."""
        assert spec.code is not None
        code, total = spec.code.name, self.args.messages
        await self.queue(code, total)
        await sink.reset()
        url = self.postgres[code]
        cores = self.all_cores if spec.free else str(self.args.sender_core)
        argv = harness.pinned(cores, spec.code.argv("-m", "export_resend.cli", "worker"))
        env = self.worker_env(spec, sink, url)
        logs = [self.directory / f"{spec.name}-{round_number}-{i}.log" for i in range(spec.count)]
        processes: list[asyncio.subprocess.Process] = []
        points: list[Point] = []
        sink_start, pg_start = sink.cpu(), harness.postgres_cpu_seconds(url.database)
        launched = time.monotonic()
        try:
            for log in logs:
                processes.append(await harness.spawn(argv, log=log, env=env))
            profiled = (
                self.profile_dir is not None
                and spec.name in self.args.profile_runs.split(",")
                and round_number == self.args.rounds - 1
            )
            profile = None
            if profiled and self.profile_dir is not None:
                profile = self.profile_dir / f"{spec.name}.profile.txt"
            end = await self._drain(spec, sink, processes, points, total, profile=profile)
            workers_cpu = sum(harness.cpu_seconds(p.pid) for p in processes)
            sink_cpu, pg_end = sink.cpu() - sink_start, harness.postgres_cpu_seconds(url.database)
        finally:
            # a worker still starting (the others sent everything) would die of the SIGTERM
            for process, log in zip(processes, logs, strict=False):
                await _started(process, log)
            codes = [await harness.stop(p, 20) for p in processes]
        stat = await sink.stat()
        statuses = await self.statuses(code)
        measured = Measured(
            run=spec.name,
            round=round_number,
            messages=stat.messages if spec.smtp else statuses.get("SENT", 0),
            seconds=end - launched,
            bytes_per_message=stat.bytes / max(1, stat.messages),
            sink_span=stat.last - stat.first if stat.messages else None,
            startup=stat.first - launched if stat.messages else None,
            sink_cpu=sink_cpu,
            postgres_cpu=None if pg_start is None or pg_end is None else pg_end - pg_start,
            sent_rows=statuses.get("SENT", 0),
            others={k: v for k, v in statuses.items() if k != "SENT"},
            exit_codes=codes,
        )
        window = steady(points, total) if spec.smtp else None
        if window is not None:
            measured.sender_cpu, measured.steady_messages, measured.steady_seconds = window
        elif not spec.smtp or total < 20:  # no window to take: all of it, start-up included
            measured.sender_cpu, measured.steady_messages = workers_cpu, total
            measured.steady_seconds = end - launched
        started = next((p for p in reversed(points) if p.sink_messages == 0), None)
        measured.startup_cpu = None if started is None else started.workers_cpu / spec.count
        return measured

    async def _drain(
        self,
        spec: Spec,
        sink: Sink,
        processes: Sequence[asyncio.subprocess.Process],
        points: list[Point],
        total: int,
        *,
        profile: Path | None = None,
    ) -> float:
        """Sample the workers' CPU and the sink every ``--sample`` seconds until the sink has
        ``total`` messages (with SMTP) and no delivery waits; the time of that. With
        ``profile``, py-spy records the first worker from 10 % of the messages to the end."""
        assert spec.code is not None
        deadline = time.monotonic() + self.args.timeout
        database = await asyncpg.connect(dsn(self.postgres[spec.code.name]))
        spy: asyncio.subprocess.Process | None = None
        try:
            while True:
                now = time.monotonic()
                stat = await sink.stat()
                cpu = sum(harness.cpu_seconds(p.pid) for p in processes)
                points.append(Point(now, cpu, stat.messages))
                if profile is not None and spy is None and stat.messages >= total * 0.1:
                    spy = await self._spy(processes[0].pid, profile)
                if stat.messages >= total or not spec.smtp:
                    waiting = await database.fetchval(
                        "SELECT count(*) FROM deliveries WHERE status IN ('QUEUED', 'SENDING')"
                    )
                    if waiting == 0:
                        return time.monotonic()
                gone = [p.returncode for p in processes if p.returncode is not None]
                if gone:
                    raise RuntimeError(
                        f"{spec.name}: a worker exited ({gone}) with {stat.messages}/{total} "
                        f"sent:\n{harness.tail(self.directory / f'{spec.name}-0-0.log')}"
                    )
                if now > deadline:
                    raise TimeoutError(
                        f"{spec.name}: {stat.messages}/{total} at the sink after "
                        f"{self.args.timeout} s"
                    )
                await asyncio.sleep(self.args.sample if stat.messages < total else 0.01)
        finally:
            await database.close()
            if spy is not None and profile is not None:
                await self._summarise(spy, profile, spec.name)

    async def _spy(self, pid: int, output: Path) -> asyncio.subprocess.Process:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        argv = [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
        argv += ["--function", "--format", "raw", "--output", str(output)]
        return await harness.spawn(argv, log=self.directory / "py-spy.log")

    async def _summarise(self, spy: asyncio.subprocess.Process, output: Path, name: str) -> None:
        """Stop py-spy (SIGINT: it writes what it has) and keep the summary."""
        if spy.returncode is None:
            spy.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(spy.wait(), 20)
        finally:
            await harness.stop(spy, 5)
        self.profiles[name] = await asyncio.to_thread(self._summary, output, spy.returncode)
        problem = harness.profile_failure(self.profiles[name])
        if problem:
            self.failures.append(f"{name}: {problem}")

    def _summary(self, output: Path, status: int | None) -> str:
        if output.exists():
            return summarise(output)
        return f"py-spy failed ({status}): {harness.tail(self.directory / 'py-spy.log')}"

    # round trips --------------------------------------------------------------------------

    async def count_round_trips(self, sink: Sink, code: Code) -> None:
        """One worker through the counting proxy: its idle polling, then draining
        ``--round-trip-messages`` deliveries."""
        postgres = self.postgres[code.name]
        counter = WireCounter(postgres.host or "127.0.0.1", postgres.port or 5432)
        proxied = postgres.set(host="127.0.0.1", port=await counter.start())
        count = self.args.round_trip_messages
        spec = Spec(f"{code.name}-w1", "worker", 1, code=code)
        await self.sql(code.name, "TRUNCATE deliveries CASCADE")
        log = self.directory / "round-trips.log"
        argv = code.argv("-m", "export_resend.cli", "worker")
        try:
            async with harness.child(argv, log=log, env=self.worker_env(spec, sink, proxied)):
                await self._until_quiet(counter)  # its start-up, and a first poll
                counter.reset()
                idle_seconds = self.args.idle_seconds
                await asyncio.sleep(idle_seconds)
                idle = sum(counter.round_trips.values())
                await self.queue(code.name, count)
                counter.reset()
                started = time.monotonic()
                while (await self.statuses(code.name)).get("SENT", 0) < count:
                    if time.monotonic() - started > self.args.timeout:
                        raise TimeoutError("round trips: the worker did not send everything")
                    await asyncio.sleep(0.02)
                seconds = time.monotonic() - started
                trips = dict(counter.round_trips)
        finally:
            await counter.close()
        self.round_trips = {
            "code": code.name,
            "messages": count,
            "per_message": sum(trips.values()) / count,
            "idle_per_second": idle / idle_seconds if idle_seconds else None,
            "seconds": seconds,
            "breakdown": sorted(((n / count, label) for label, n in trips.items()), reverse=True),
        }

    async def _until_quiet(self, counter: WireCounter, quiet: float = 0.5) -> None:
        """Until no round trip has been made for ``quiet`` seconds (start-up done)."""
        seen, since = -1, time.monotonic()
        deadline = since + self.args.timeout
        while time.monotonic() < deadline:
            now_seen = sum(counter.round_trips.values())
            if now_seen != seen:
                seen, since = now_seen, time.monotonic()
            elif seen > 0 and time.monotonic() - since >= quiet:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("round trips: the worker did not settle")

    # all of it ----------------------------------------------------------------------------

    def check(self, measured: Measured, spec: Spec) -> None:
        where = f"{measured.run}, round {measured.round + 1}"
        total = self.args.messages
        if measured.messages != total:
            self.failures.append(f"{where}: {measured.messages} messages delivered, {total} sent")
        if measured.sent_rows is not None and measured.sent_rows != total:
            self.failures.append(f"{where}: {measured.sent_rows} of {total} deliveries SENT")
        if measured.others:
            self.failures.append(f"{where}: deliveries left {measured.others}")
        if any(measured.exit_codes):
            self.failures.append(f"{where}: exit codes {measured.exit_codes}")
        if spec.kind == "worker" and not spec.smtp and measured.sink_span is not None:
            self.failures.append(f"{where}: no SMTP was asked for, yet the sink got messages")

    async def everything(self) -> None:
        core = self.args.sink_core
        async with Sink.running(self.args.sink, core, self.directory / "sink.log") as sink:
            ours = next((s.code for s in self.specs if s.code and s.code.name == "ours"), None)
            if self.args.round_trip_messages and ours is not None:
                print("counting round trips …", flush=True)
                await self.count_round_trips(sink, ours)
            for round_number in range(self.args.rounds):
                for spec in self.specs:
                    print(f"round {round_number + 1}/{self.args.rounds}: {spec.name} …", flush=True)
                    if spec.kind == "worker":
                        measured = await self.workers(spec, sink, round_number)
                    else:
                        measured = await self.peer(spec, sink, round_number)
                    self.check(measured, spec)
                    self.results.append(measured)
                    cpu = measured.sender_us
                    print(
                        f"  {measured.rate:7.0f} msg/s  "
                        f"{'-' if cpu is None else f'{cpu:.0f}':>6} µs CPU/msg",
                        flush=True,
                    )


# -- report ----------------------------------------------------------------------------------


def report(session: Run, args: argparse.Namespace) -> list[dict[str, Any]]:
    print(
        f"\n== delivery: {args.messages} messages per run (To + 2 Cc), {args.rounds} round(s), "
        f"runs alternating; peers and pinned workers on core {args.sender_core}, free workers "
        f"on every core, the {args.sink} sink on core {args.sink_core}, PostgreSQL unpinned. "
        "Median (range) over rounds."
    )
    names = [s.name for s in session.specs]
    width = max(8, *(len(n) for n in names))
    print(
        f"{'run':{width}} {'msg/s':>18} {'sink msg/s':>18} {'start s':>6} {'sender CPU':>10} "
        f"{'sender µs/msg':>20} {'start CPU s':>11} {'sink µs':>6} {'pg µs':>6} {'B/msg':>6}"
    )
    for name in names:
        rs = [r for r in session.results if r.run == name]
        sink_rates = [r.sink_rate for r in rs if r.sink_rate is not None]
        starts = [r.startup for r in rs if r.startup is not None]
        busy = [r.sender_busy for r in rs if r.sender_busy is not None]
        cpu = [r.sender_us for r in rs if r.sender_us is not None]
        startup = [r.startup_cpu for r in rs if r.startup_cpu is not None]
        pg = [1e6 * r.postgres_cpu / max(1, r.messages) for r in rs if r.postgres_cpu is not None]
        print(
            f"{name:{width}} {Spread.of(r.rate for r in rs).show():>18} "
            f"{Spread.of(sink_rates).show() if sink_rates else '-':>18} "
            f"{Spread.of(starts).show(2) if starts else '-':>6} "
            f"{f'{100 * Spread.of(busy).median:.0f}%' if busy else '-':>10} "
            f"{Spread.of(cpu).show() if cpu else '-':>20} "
            f"{Spread.of(startup).show(2) if startup else '-':>11} "
            f"{Spread.of(1e6 * r.sink_cpu / max(1, r.messages) for r in rs).median:6.0f} "
            f"{f'{Spread.of(pg).median:.0f}' if pg else '-':>6} "
            f"{Spread.of(r.bytes_per_message for r in rs).median:6.0f}"
        )
    print(
        "(msg/s: messages / wall time, from the start (workers: their launch) to the last "
        "reply (peers) or the last delivery SENT; sink msg/s: first to last message at the "
        "sink; start s: launch to the first message; sender CPU and µs/msg: the peer's whole "
        "timed part, or the workers' (summed) between 10 % and 90 % of the messages at the "
        "sink; start CPU s: each worker's CPU when the first message arrived (imports, "
        "settings, container); pg µs: PostgreSQL's own processes and the backends of the "
        "run's database, per message)"
    )
    ratios = []
    reference = args.reference
    if reference in names:
        print(f"\n== ratios to {reference} within each round: median (range) over rounds")
        for name in names:
            if name == reference:
                continue
            per_round = []
            for number in range(args.rounds):
                x = next((r for r in session.results if r.run == name and r.round == number), None)
                y = next(
                    (r for r in session.results if r.run == reference and r.round == number), None
                )
                if x and y and y.rate:
                    per_round.append(x.rate / y.rate)
            line = f"{name:{width}} msg/s {Spread.of(per_round).show(2, 'x'):>22}"
            if name == "ours-w1" and reference == "raw-1":
                verdict = "met" if Spread.of(per_round).median >= GOAL_RATIO else "NOT MET"
                line += f"  goal >= {GOAL_RATIO}x: {verdict}"
            print(line)
            ratios.append({"run": name, "reference": reference, "per_round": per_round})
    one = [r.sender_us for r in session.results if r.run == "ours-w1" and r.sender_us]
    two = [r.sender_us for r in session.results if r.run == "ours-w2" and r.sender_us]
    if one:
        verdict = "met" if Spread.of(one).median <= GOAL_CPU_US else "NOT MET"
        print(
            f"ours-w1 CPU per message {Spread.of(one).show()} µs: goal <= {GOAL_CPU_US}: {verdict}"
        )
    if one and two:
        scaling = Spread.of(two).median / Spread.of(one).median
        verdict = "met" if scaling <= GOAL_SCALING else "NOT MET"
        print(
            f"ours-w2 / ours-w1 CPU per message {scaling:.2f}x: goal <= {GOAL_SCALING}: {verdict}"
        )
    trips = session.round_trips
    if trips is not None:
        idle = trips["idle_per_second"]
        print(
            f"\n== database round trips per message, 1 worker ({trips['code']}), "
            f"{trips['messages']} messages in {trips['seconds']:.2f} s: "
            f"{trips['per_message']:.2f} (idle polling: "
            f"{'-' if idle is None else f'{idle:.1f}'} round trips/s, included)"
        )
        for per_message, label in trips["breakdown"]:
            print(f"  {per_message:5.2f}  {label}")
    for name, summary in session.profiles.items():
        print(
            f"\n== {name}: py-spy profile of a worker, 10 % of the messages to the end\n{summary}"
        )
    return ratios


# -- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is missing: apt-get install -y util-linux")
    cancel_on_signals()
    codes = harness.codes(args)
    specs = [parse_run(name, codes) for name in args.runs.split(",") if name]
    if len({s.name for s in specs}) != len(specs):
        raise SystemExit("--runs names a run twice")
    print(f"load average before: {harness.load_average()}")
    machine = await harness.machine(server_url(args.server))
    harness.print_machine(machine)
    for code in {s.code.name: s.code for s in specs if s.code is not None}.values():
        print(f"  code {code.name}: {await code.verify()}")
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_") as scratch:
        session = Run(args, Path(scratch), specs)
        async with contextlib.AsyncExitStack() as stack:
            await session.prepare(stack)
            await session.everything()
    ratios = report(session, args)
    print(f"\nload average after: {harness.load_average()}")
    for failure in session.failures:
        print(f"FAILED: {failure}")
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": vars(args),
        "machine": machine,
        "results": [
            {**asdict(r), "rate": r.rate, "sink_rate": r.sink_rate, "sender_us": r.sender_us}
            for r in session.results
        ],
        "ratios": ratios,
        "round_trips": session.round_trips,
        "failures": session.failures,
    }
    return (1 if session.failures else 0), payload


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", help=f"comma-separated (default {DEFAULT_RUNS})")
    parser.add_argument("--rounds", type=int, help="rounds, alternating runs (default 3)")
    parser.add_argument("--messages", type=int, help="messages per run (default 2000)")
    parser.add_argument("--warmup", type=int, help="peers: messages per connection first (50)")
    parser.add_argument("--reference", default="raw-1", help="the run ratios are taken to")
    parser.add_argument("--sink", choices=IMPLEMENTATIONS, default="minimal")
    parser.add_argument("--sender-core", type=int, default=0)
    parser.add_argument("--sink-core", type=int, default=1)
    parser.add_argument("--users", type=int, help="users with a key (default 20)")
    parser.add_argument("--exports", type=int, help="READY exports resent (default 400)")
    parser.add_argument("--round-trip-messages", type=int, help="0: do not count (default 200)")
    parser.add_argument("--idle-seconds", type=float, help="idle polling counted first (2)")
    parser.add_argument("--sample", type=float, default=0.1, help="seconds between samples")
    parser.add_argument("--timeout", type=float, help="per run, seconds (default 300)")
    parser.add_argument("--profile", help="py-spy a worker in the last round; stacks kept here")
    parser.add_argument("--profile-runs", default="ours-w1", help="which runs to profile")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    smoke = args.smoke
    defaults: dict[str, Any] = {
        "runs": SMOKE_RUNS if smoke else DEFAULT_RUNS,
        "rounds": 1 if smoke else 3,
        "messages": 40 if smoke else 2000,
        "warmup": 5 if smoke else 50,
        "users": 4 if smoke else 20,
        "exports": 40 if smoke else 400,
        "round_trip_messages": 20 if smoke else 200,
        "idle_seconds": 0.5 if smoke else 2.0,
        "timeout": 60 if smoke else 300,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.messages < 2:
        parser.error("--messages must be at least 2")
    if smoke and not (args.baseline_src or args.baseline_python):
        args.baseline_src = str(harness.ROOT / "src")  # base = this checkout: the path works
    try:
        status, payload = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        harness.interrupted_exit("sink, servers and workers stopped, databases dropped")
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    sys.exit(status)


if __name__ == "__main__":
    main()
