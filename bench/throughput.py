"""Throughput benchmark (issue 14): the resend endpoint under load, ours against its peers.

In one run, on the same data: each target is a server pinned to one core (``--server-core``)
loaded by wrk pinned to the other (``--client-core``), POSTing
``/v1/exports/{id}/resend-email`` (``{"cc":[]}``), each request to a random export with its
owner's key. Rounds alternate between the targets (A B C A B C …): every round starts each
server afresh, warms it up, then measures it. Reports, per target, the median and the range
over rounds of requests/s, p50 and p99 latency, and server CPU per request (from
/proc/<pid>/stat); and every ratio between two targets taken within each round, as a median
and a range. Before the rounds it counts each PostgreSQL target's database round trips per
request through a counting proxy (bench/wire.py).

Targets (``--targets``, comma-separated):

- ``ref``: the reference peer, Starlette + asyncpg, 5 round trips (bench/peer.py);
- ``ref-cte``: the same in one statement, 1 round trip;
- ``naive-pg``, ``naive-sqlite``: FastAPI + the SQLAlchemy ORM (bench/naive.py);
- ``ours-pg``, ``ours-sqlite``: ``export-resend serve`` of this checkout with its shipped
  defaults (INFO logs and the access line, metrics, rate limit, idempotency), the
  dispatcher off and the in-memory mailer; the limit raised so that it is counted on every
  request but never reached;
- ``base-pg``, ``base-sqlite``: the same from another checkout (``--baseline-src``,
  ``--baseline-python``), on a database its own code migrated and seeded.

A service target takes options after ``+``: ``+h11`` (uvloop and httptools made
unimportable: asyncio and h11, as without ``uvicorn[standard]``) and ``+NAME=VALUE``
(``EXPORT_RESEND_NAME=VALUE``), e.g. ``ours-pg+log_level=WARNING+database_pool_size=40``.

    .venv/bin/python -m bench.throughput                                   # ~6 min
    .venv/bin/python -m bench.throughput --targets ref,ours-pg --rounds 5 --duration 10
    .venv/bin/python -m bench.throughput --targets ref,base-pg,ours-pg --baseline-src ../main/src
    .venv/bin/python -m bench.throughput --smoke                           # ~20 s, python load
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sqlite3
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
from bench.seed import Resendable, make_spec, resendable
from bench.shutdown import cancel_on_signals
from bench.wire import WireCounter

KINDS = ("ref", "ref-cte", "naive-pg", "naive-sqlite", "ours-pg", "ours-sqlite", "base-pg")
DEFAULT_TARGETS = "ref,ref-cte,naive-pg,naive-sqlite,ours-pg,ours-pg+h11,ours-sqlite"
SMOKE_TARGETS = "ref,ref-cte,naive-pg,naive-sqlite,ours-pg,ours-sqlite,base-pg"
LINK_SECRET = "bench-only-link-secret-0123456789abcdef"  # noqa: S105 (no link is ever made)
UNREACHED_LIMIT = "10000"
"""EXPORT_RESEND_RESEND_LIMIT_PER_HOUR for the service: counted, never reached."""
GOALS = {
    ("ours-pg", "ref"): (0.6, 2.0),  # req/s at least, p99 at most, as ratios
    ("ours-sqlite", "naive-sqlite"): (3.0, None),
}
SQLITE_P99_GOAL_MS = 250
EXPECTED_ROUND_TRIPS = {"ref": 5.0, "ref-cte": 1.0}
"""What the peers are built to send per request: checked, a peer that drifts is broken."""


# -- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One server under test, as named on the command line."""

    name: str
    kind: str  # ref, ref-cte, naive, service
    store: str  # pg, sqlite
    code: Code
    settings: tuple[tuple[str, str], ...] = ()
    h11: bool = False

    @property
    def postgres(self) -> bool:
        return self.store == "pg"

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)


def parse_target(name: str, codes: dict[str, Code]) -> Target:
    base, *options = name.split("+")
    who, _, store = base.partition("-")
    if base in ("ref", "ref-cte"):
        kind, store, code = base, "pg", codes["ours"]
    elif who == "naive" and store in ("pg", "sqlite"):
        kind, code = "naive", codes["ours"]
    elif who in ("ours", "base") and store in ("pg", "sqlite"):
        if who not in codes:
            raise SystemExit(f"{name}: give --baseline-src or --baseline-python for base-…")
        kind, code = "service", codes[who]
    else:
        raise SystemExit(f"unknown target {name!r}: from {', '.join(KINDS)} and base-sqlite")
    settings, h11 = [], False
    for option in options:
        if kind != "service":
            raise SystemExit(f"{name}: options are for ours-… and base-… only")
        if option == "h11":
            h11 = True
            continue
        key, equals, value = option.partition("=")
        if not equals or not key:
            raise SystemExit(f"{name}: option {option!r} is neither h11 nor NAME=VALUE")
        settings.append((f"EXPORT_RESEND_{key.upper()}", value))
    return Target(name, kind, store, code, tuple(settings), h11)


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Sample:
    """One target in one round."""

    target: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    server_cpu_s: float
    postgres_cpu_s: float | None
    delivered: int
    sessions: int | None = None  # connections PostgreSQL counted as opened meanwhile

    @property
    def server_us_per_request(self) -> float:
        return 1e6 * self.server_cpu_s / max(1, self.requests)

    @property
    def postgres_us_per_request(self) -> float | None:
        if self.postgres_cpu_s is None:
            return None
        return 1e6 * self.postgres_cpu_s / max(1, self.requests)

    @property
    def server_busy(self) -> float:
        return self.server_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class RoundTrips:
    per_request: float
    breakdown: list[tuple[float, str]] = field(default_factory=list)
    connections: int = 0


def wrk_script(targets: Sequence[Resendable]) -> str:
    """A wrk script that POSTs resends, each to a random export with its owner's key, and
    prints its results as one JSON line."""
    rows = ",\n".join(f'  {{"{r.export_id}", "{r.api_key}", "{r.client}"}}' for r in targets)
    return f"""
local targets = {{
{rows}
}}
local seeds = 0
function setup(thread)
  seeds = seeds + 1
  thread:set("seed", seeds)
end
function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end
function request()
  local t = targets[math.random(#targets)]
  return wrk.format("POST", "/v1/exports/" .. t[1] .. "/resend-email",
    {{["dj-api-key"] = t[2], ["dj-client"] = t[3], ["Content-Type"] = "application/json"}},
    '{{"cc":[]}}')
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def resend_requests(targets: Sequence[Resendable]) -> list[loadgen.Request]:
    """The same requests as the wrk script, for the Python load generator."""
    return [
        loadgen.Request(
            "POST",
            f"/v1/exports/{r.export_id}/resend-email",
            {"dj-api-key": r.api_key, "dj-client": r.client, "Content-Type": "application/json"},
            b'{"cc":[]}',
        )
        for r in targets
    ]


def _count_sqlite_deliveries(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        count: int = connection.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        return count


# -- the run ---------------------------------------------------------------------------------


class Run:
    """One benchmark session: its databases, its files, its options."""

    def __init__(
        self, args: argparse.Namespace, directory: Path, spec: dict[str, Any], targets: list[Target]
    ) -> None:
        self.args = args
        self.directory = directory
        self.spec = spec
        self.targets = targets
        self.resendable = resendable(spec)
        self.postgres: dict[str, URL] = {}  # by code name
        self.sqlite: dict[str, Path] = {}  # by target name
        self.script = directory / "resend.lua"
        self.script.write_text(wrk_script(self.resendable))
        self.requests_file = directory / "requests.json"
        loadgen.write_requests(self.requests_file, resend_requests(self.resendable))
        self.samples: list[Sample] = []
        self.round_trips: dict[str, RoundTrips] = {}
        self.profiles: dict[str, str] = {}
        self.failures: list[str] = []
        # smoke runs profile too (py-spy must still work), into their own scratch directory
        self.profile_dir: Path | None = Path(args.profile) if args.profile else None
        if self.profile_dir is None and args.smoke:
            self.profile_dir = directory / "profiles"
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)

    # data ---------------------------------------------------------------------------------

    async def seed(self, code: Code, database_url: str) -> None:
        spec_file = self.directory / "spec.json"
        if not spec_file.exists():
            spec_file.write_text(json.dumps(self.spec))
        log = self.directory / f"seed-{code.name}.log"
        status, out = await harness.run_to_end(
            code.argv("-m", "bench.seed", "--database-url", database_url, "--spec", str(spec_file)),
            env=code.env(),
            log=log,
            within=600,
        )
        if status != 0 or not out.startswith("SEEDED"):
            raise RuntimeError(f"seeding with {code.name} failed ({status}):\n{harness.tail(log)}")

    async def prepare(self, stack: contextlib.AsyncExitStack) -> None:
        """A PostgreSQL database per code with a PostgreSQL target (the peers use ours), a
        SQLite file per SQLite target; each migrated and seeded by its own code."""
        server = server_url(self.args.server)
        pg_codes = {t.code.name: t.code for t in self.targets if t.postgres}
        for name, code in pg_codes.items():
            url = await stack.enter_async_context(empty_database(server))
            await self.seed(code, sqlalchemy_url(url))
            self.postgres[name] = url
            print(f"  {name}: database {url.database}, seeded by {code.name}'s code", flush=True)
        seeded: dict[str, Path] = {}
        for target in (t for t in self.targets if not t.postgres):
            code = target.code
            if code.name not in seeded:
                seeded[code.name] = self.directory / f"seed-{code.name}.db"
                await self.seed(code, f"sqlite+aiosqlite:///{seeded[code.name]}")
            path = self.directory / f"{target.slug}.db"
            shutil.copyfile(seeded[code.name], path)
            self.sqlite[target.name] = path

    def database_url(self, target: Target) -> str:
        if target.postgres:
            return sqlalchemy_url(self.postgres[target.code.name])
        return f"sqlite+aiosqlite:///{self.sqlite[target.name]}"

    async def counts(self, target: Target) -> tuple[int, int | None]:
        """How many deliveries the target's database holds, and (PostgreSQL) how many
        sessions were ever opened to it."""
        if not target.postgres:
            path = self.sqlite[target.name]
            return await asyncio.to_thread(_count_sqlite_deliveries, path), None
        url = self.postgres[target.code.name]
        connection = await asyncpg.connect(dsn(url))
        try:
            count: int = await connection.fetchval("SELECT count(*) FROM deliveries")
            sessions: int | None = await connection.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = $1", url.database
            )
            return count, sessions
        finally:
            await connection.close()

    # servers ------------------------------------------------------------------------------

    def command(
        self, target: Target, port: int, database_url: str
    ) -> tuple[list[str], dict[str, str]]:
        python = [sys.executable, "-m"]
        if target.kind in ("ref", "ref-cte"):
            variant = "cte" if target.kind == "ref-cte" else "five"
            url = harness_url(database_url)
            argv = [*python, "bench.peer", "--dsn", url, "--port", str(port), "--variant", variant]
            argv += ["--pool-size", str(self.args.peer_pool_size)]
            return argv, target.code.env()
        if target.kind == "naive":
            argv = [*python, "bench.naive", "--database-url", database_url, "--port", str(port)]
            return argv, target.code.env()
        files = self.directory / f"files-{target.slug}"
        env = target.code.env(
            {
                "EXPORT_RESEND_DATABASE_URL": database_url,
                "EXPORT_RESEND_SERVE_DISPATCHER": "false",
                "EXPORT_RESEND_MAILER": "memory",
                "EXPORT_RESEND_LINK_SECRET": LINK_SECRET,
                "EXPORT_RESEND_RESEND_LIMIT_PER_HOUR": UNREACHED_LIMIT,
                "EXPORT_RESEND_FILES_DIR": str(files),
                **dict(target.settings),
            }
        )
        serve = ["export_resend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if target.h11:
            return target.code.argv("-m", "bench.without", "uvloop,httptools", *serve), env
        return target.code.argv("-m", *serve), env

    @contextlib.asynccontextmanager
    async def server(
        self, target: Target, database_url: str | None = None
    ) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
        log = self.directory / f"{target.slug}.log"
        url = database_url or self.database_url(target)
        async with harness.listening(
            lambda port: self.command(target, port, url), log, self.args.server_core
        ) as (port, process):
            yield port, process

    async def requests(self, port: int, count: int) -> dict[str, Any]:
        """``count`` requests one at a time (in order, over the data)."""
        return await loadgen.load(
            port, resend_requests(self.resendable), connections=1, total=count
        )

    async def preflight(self, target: Target, port: int) -> None:
        """One request by hand: it must answer 200, or the load would measure errors."""
        figures = await self.requests(port, 1)
        if figures["statuses"] != {"200": 1}:
            log = self.directory / f"{target.slug}.log"
            raise RuntimeError(
                f"{target.name}: preflight answered {figures['statuses']}:\n{harness.tail(log)}"
            )

    # load ---------------------------------------------------------------------------------

    async def load(self, port: int, seconds: float) -> dict[str, Any]:
        """Load the server for ``seconds``: wrk (or the Python generator), pinned."""
        if self.args.load == "wrk":
            argv = ["wrk", f"-t{self.args.threads}", f"-c{self.args.connections}"]
            argv += [f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(self.script)]
            argv.append(f"http://127.0.0.1:{port}")
        else:
            argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port)]
            argv += ["--requests-file", str(self.requests_file)]
            argv += ["--connections", str(self.args.connections), "--duration", str(seconds)]
        status, out = await harness.run_to_end(
            harness.pinned(self.args.client_core, argv),
            log=self.directory / "load.log",
            within=seconds + 60,
        )
        for line in out.splitlines():
            if line.startswith("BENCH-JSON "):
                figures: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
                return figures
        raise RuntimeError(f"{self.args.load} gave no result ({status}): {out}")

    async def count_round_trips(self, target: Target) -> None:
        """Requests one at a time through the counting proxy, after a warm-up."""
        postgres = self.postgres[target.code.name]
        counter = WireCounter(postgres.host or "127.0.0.1", postgres.port or 5432)
        proxy = postgres.set(host="127.0.0.1", port=await counter.start())
        n = self.args.round_trip_requests
        try:
            async with self.server(target, sqlalchemy_url(proxy)) as (port, _):
                warm = await self.requests(port, min(50, n))
                counter.reset()
                figures = await self.requests(port, n)
            if set(warm["statuses"]) | set(figures["statuses"]) != {"200"}:
                self.failures.append(f"{target.name}: round trips: {figures['statuses']}")
            self.round_trips[target.name] = RoundTrips(
                sum(counter.round_trips.values()) / n,
                [(count / n, label) for label, count in counter.round_trips.most_common()],
                counter.connections,
            )
        finally:
            await counter.close()

    async def measure(self, target: Target, round_number: int, last: bool) -> Sample:
        async with self.server(target) as (port, process):
            await self.preflight(target, port)
            if self.args.warmup > 0:
                await self.load(port, self.args.warmup)
            before, sessions_before = await self.counts(target)
            database = self.postgres[target.code.name].database if target.postgres else None
            server_start = harness.tree_cpu_seconds(process.pid)
            postgres_start = harness.postgres_cpu_seconds(database) if database else None
            load = asyncio.create_task(self.load(port, self.args.duration))
            try:
                wanted = self.args.profile_targets.split(",")
                profiled = self.profile_dir is not None and target.name in wanted
                if profiled and last:
                    self.profiles[target.name] = await self.profile(process.pid, target)
                    problem = harness.profile_failure(self.profiles[target.name])
                    if problem:
                        self.failures.append(f"{target.name}: {problem}")
                figures = await load
            finally:
                load.cancel()
            server_cpu = harness.tree_cpu_seconds(process.pid) - server_start
            postgres_end = harness.postgres_cpu_seconds(database) if database else None
            await asyncio.sleep(0.2)  # the answers wrk did not wait for commit
            after, sessions_after = await self.counts(target)
            delivered = after - before
            if process.returncode is not None:
                self.failures.append(f"{target.name}: the server exited ({process.returncode})")
        seconds = figures["duration_us"] / 1e6
        postgres = None
        if postgres_start is not None and postgres_end is not None:
            postgres = postgres_end - postgres_start
        return Sample(
            target=target.name,
            round=round_number,
            requests=figures["requests"],
            seconds=seconds,
            rps=figures["requests"] / seconds if seconds else 0.0,
            p50_ms=figures["p50_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            errors={k: figures[k] for k in ("connect", "read", "write", "status", "timeout")},
            server_cpu_s=server_cpu,
            postgres_cpu_s=postgres,
            delivered=delivered,
            # minus the one that asked after the run (pg_stat_database counts a session when
            # it starts, flushed within a second: a close figure, not an exact one)
            sessions=None
            if sessions_before is None or sessions_after is None
            else max(0, sessions_after - sessions_before - 1),
        )

    async def profile(self, pid: int, target: Target) -> str:
        assert self.profile_dir is not None
        raw = self.profile_dir / f"{target.slug}.profile.txt"
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        seconds = max(1, int(self.args.duration) - 1)
        argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds)]
        argv += ["--rate", "100", "--nonblocking", "--function", "--format", "raw"]
        argv += ["--output", str(raw)]
        status, _ = await harness.run_to_end(
            argv, log=self.directory / "py-spy.log", within=seconds + 60
        )
        if status != 0 or not raw.exists():
            return f"py-spy failed ({status}): {harness.tail(self.directory / 'py-spy.log')}"
        return summarise(raw)

    def check(self, target: Target, sample: Sample) -> None:
        """What makes a sample wrong, whatever the speed."""
        where = f"{target.name}, round {sample.round + 1}"
        if sample.requests == 0:
            self.failures.append(f"{where}: no request was answered")
        if sample.errors["status"]:
            self.failures.append(f"{where}: {sample.errors['status']} answers were not 2xx")
        socket_errors = sum(v for k, v in sample.errors.items() if k != "status")
        if socket_errors and self.args.smoke:
            self.failures.append(f"{where}: {socket_errors} socket errors {sample.errors}")
        # the Python generator waits for every answer; wrk leaves its last ones unread, and
        # the warm-up's last ones may commit after the count before the measured run
        slack = 0 if self.args.load == "python" else 2 * self.args.connections
        if not sample.requests <= sample.delivered <= sample.requests + slack:
            self.failures.append(
                f"{where}: {sample.delivered} deliveries committed for {sample.requests} answers"
            )

    async def everything(self) -> None:
        if self.args.round_trip_requests:
            wanted = self.args.round_trip_targets
            for target in (t for t in self.targets if t.postgres):
                if wanted is not None and target.name not in wanted.split(","):
                    continue
                print(f"counting round trips: {target.name} …", flush=True)
                await self.count_round_trips(target)
                expected = EXPECTED_ROUND_TRIPS.get(target.kind)
                found = self.round_trips[target.name].per_request
                if expected is not None and found != expected:
                    self.failures.append(
                        f"{target.name}: {found:.2f} round trips per request, built for {expected}"
                    )
        for round_number in range(self.args.rounds):
            for target in self.targets:
                print(f"round {round_number + 1}/{self.args.rounds}: {target.name} …", flush=True)
                last = round_number == self.args.rounds - 1
                sample = await self.measure(target, round_number, last)
                self.check(target, sample)
                self.samples.append(sample)
                print(
                    f"  {sample.rps:8.0f} req/s  p99 {sample.p99_ms:7.1f} ms  "
                    f"{sample.server_us_per_request:6.0f} µs CPU/req",
                    flush=True,
                )


def harness_url(database_url: str) -> str:
    """An asyncpg DSN from a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


# -- report ----------------------------------------------------------------------------------


def pairs(args: argparse.Namespace, names: Sequence[str]) -> list[tuple[str, str]]:
    """Which ratios to show: ``--pairs A/B,…``, else every target to ``ref``, ours-sqlite to
    naive-sqlite, and every ours-… to the base-… of the same name."""
    if args.pairs:
        found = [tuple(p.split("/", 1)) for p in args.pairs.split(",")]
        for pair in found:
            if len(pair) != 2 or not set(pair) <= set(names):
                raise SystemExit(f"--pairs: {'/'.join(pair)} is not two of the targets")
        return [(a, b) for a, b in found]
    chosen = [(name, "ref") for name in names if "ref" in names and name != "ref"]
    if "ours-sqlite" in names and "naive-sqlite" in names:
        chosen.append(("ours-sqlite", "naive-sqlite"))
    for name in names:
        if name.startswith("ours-") and "base-" + name.removeprefix("ours-") in names:
            chosen.append((name, "base-" + name.removeprefix("ours-")))
    return chosen


def report(run: Run, args: argparse.Namespace) -> list[dict[str, Any]]:
    names = [t.name for t in run.targets]
    load = "wrk" if args.load == "wrk" else "the Python load generator (bench/loadgen.py)"
    print(
        f"\n== resend under load: {load}, {args.connections} connections, {args.rounds} "
        f"round(s) of {args.duration} s after {args.warmup} s of warm-up, rounds alternating; "
        f"server on core {args.server_core}, load on core {args.client_core}, PostgreSQL "
        "unpinned. Median (range) over rounds."
    )
    width = max(12, *(len(n) for n in names))
    print(
        f"{'target':{width}} {'req/s':>22} {'p50 ms':>20} {'p99 ms':>22} {'srv CPU':>8} "
        f"{'srv µs/req':>20} {'pg µs/req':>10} {'RT/req':>6} {'new conns':>9} {'non-2xx':>7} "
        f"{'sock err':>8}"
    )
    for name in names:
        samples = [s for s in run.samples if s.target == name]
        trips = run.round_trips.get(name)
        pg = [s.postgres_us_per_request for s in samples if s.postgres_us_per_request is not None]
        sock = sum(v for s in samples for k, v in s.errors.items() if k != "status")
        conns = [s.sessions for s in samples if s.sessions is not None]
        print(
            f"{name:{width}} {Spread.of(s.rps for s in samples).show():>22} "
            f"{Spread.of(s.p50_ms for s in samples).show(1):>20} "
            f"{Spread.of(s.p99_ms for s in samples).show(1):>22} "
            f"{100 * Spread.of(s.server_busy for s in samples).median:7.0f}% "
            f"{Spread.of(s.server_us_per_request for s in samples).show():>20} "
            f"{Spread.of(pg).show() if pg else '-':>10} "
            f"{'-' if trips is None else f'{trips.per_request:.2f}':>6} "
            f"{Spread.of(conns).show() if conns else '-':>9} "
            f"{sum(s.errors['status'] for s in samples):7} {sock:8}"
        )
    print(
        "(srv CPU: the server's CPU use, 100 % = its core; srv µs/req: its CPU time per "
        "answer, user + system from /proc/<pid>/stat, the most stable figure on a busy "
        "machine; pg µs/req: PostgreSQL's own processes and the backends of the target's "
        "database (a backend that disconnects before the end is not counted: see new conns); "
        "RT/req: database round trips per request, counted before the rounds; new conns: "
        "connections opened to the database during the measured run, as pg_stat_database "
        "counts them)"
    )
    ratios = []
    chosen = pairs(args, names)
    if chosen:
        print("\n== ratios within each round: median (range) over rounds")
        for a, b in chosen:
            per_round = []
            for number in range(args.rounds):
                x = next((s for s in run.samples if s.target == a and s.round == number), None)
                y = next((s for s in run.samples if s.target == b and s.round == number), None)
                if x and y and y.rps and y.p99_ms and y.server_us_per_request:
                    per_round.append(
                        (
                            x.rps / y.rps,
                            x.p99_ms / y.p99_ms,
                            x.server_us_per_request / y.server_us_per_request,
                        )
                    )
            rps = Spread.of(r[0] for r in per_round)
            p99 = Spread.of(r[1] for r in per_round)
            cpu = Spread.of(r[2] for r in per_round)
            line = (
                f"{a + ' / ' + b:{2 * width + 3}} req/s {rps.show(2, 'x'):>20}  "
                f"p99 {p99.show(2, 'x'):>20}  CPU/req {cpu.show(2, 'x'):>20}"
            )
            goal = GOALS.get((a, b))
            if goal is not None:
                rps_goal, p99_goal = goal
                met = rps.median >= rps_goal and (p99_goal is None or p99.median <= p99_goal)
                wanted = f"req/s >= {rps_goal}x" + (f", p99 <= {p99_goal}x" if p99_goal else "")
                line += f"  goal {wanted}: {'met' if met else 'NOT MET'}"
            print(line)
            ratios.append({"a": a, "b": b, "per_round": per_round})
        if "ours-sqlite" in names:
            p99 = Spread.of(s.p99_ms for s in run.samples if s.target == "ours-sqlite")
            verdict = "met" if p99.median <= SQLITE_P99_GOAL_MS else "NOT MET"
            print(f"ours-sqlite p99 {p99.show(1)} ms: goal <= {SQLITE_P99_GOAL_MS} ms: {verdict}")
    for name, trips in run.round_trips.items():
        print(
            f"\n== {name}: {trips.per_request:.2f} database round trips per request "
            f"({trips.connections} connections opened while counting)"
        )
        for per_request, label in trips.breakdown:
            print(f"  {per_request:5.2f}  {label}")
    for name, summary in run.profiles.items():
        print(f"\n== {name}: py-spy profile under load (last round)\n{summary}")
    return ratios


# -- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    tools = ["taskset"] + (["wrk"] if args.load == "wrk" else [])
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install -y {tool} (see bench/README.md)")
    cancel_on_signals()
    codes = harness.codes(args)
    targets = [parse_target(name, codes) for name in args.targets.split(",") if name]
    if len({t.name for t in targets}) != len(targets):
        raise SystemExit("--targets names a target twice")
    print(f"load average before: {harness.load_average()}")
    machine = await harness.machine(server_url(args.server))
    harness.print_machine(machine)
    for code in {t.code.name: t.code for t in targets}.values():
        print(f"  code {code.name}: {await code.verify()}")
    spec = make_spec(args.users, args.exports)
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_") as scratch:
        directory = Path(scratch)
        session = Run(args, directory, spec, targets)
        async with contextlib.AsyncExitStack() as stack:
            started = time.perf_counter()
            await session.prepare(stack)
            print(
                f"seeded {args.users} users with keys and {args.exports} READY exports "
                f"in {time.perf_counter() - started:.1f} s; files in {directory}",
                flush=True,
            )
            await session.everything()
    ratios = report(session, args)
    after = harness.load_average()
    print(f"\nload average after: {after}")
    for failure in session.failures:
        print(f"FAILED: {failure}")
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": vars(args),
        "machine": machine,
        "samples": [asdict(s) for s in session.samples],
        "ratios": ratios,
        "round_trips": {k: asdict(v) for k, v in session.round_trips.items()},
        "failures": session.failures,
    }
    return (1 if session.failures else 0), payload


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", help=f"comma-separated (default {DEFAULT_TARGETS})")
    parser.add_argument("--rounds", type=int, help="rounds, alternating targets (default 3)")
    parser.add_argument("--duration", type=float, help="measured seconds per round (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per round (default 3)")
    parser.add_argument("--connections", type=int, help="load connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--load", choices=("wrk", "python"), help="default wrk; smoke: python")
    parser.add_argument("--users", type=int, help="users with a key (default 40)")
    parser.add_argument("--exports", type=int, help="READY exports (default 10,000)")
    parser.add_argument("--peer-pool-size", type=int, default=20, help="the reference's pool")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--round-trip-requests", type=int, help="0: do not count (default 200)")
    parser.add_argument(
        "--round-trip-targets", help="whose round trips to count (default: every PostgreSQL one)"
    )
    parser.add_argument("--pairs", help="ratios to show, A/B,… (default: see pairs())")
    parser.add_argument("--profile", help="py-spy the targets under load; stacks kept here")
    parser.add_argument("--profile-targets", default="ours-pg", help="which targets to profile")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    smoke = args.smoke
    defaults: dict[str, Any] = {
        "targets": SMOKE_TARGETS if smoke else DEFAULT_TARGETS,
        "rounds": 1 if smoke else 3,
        "duration": 0.6 if smoke else 10,
        "warmup": 0.2 if smoke else 3,
        "connections": 4 if smoke else 32,
        "load": "python" if smoke else "wrk",
        "users": 4 if smoke else 40,
        "exports": 200 if smoke else 10_000,
        "round_trip_requests": 10 if smoke else 200,
        "round_trip_targets": "ref,ref-cte,ours-pg" if smoke else None,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if smoke and not (args.baseline_src or args.baseline_python):
        args.baseline_src = str(harness.ROOT / "src")  # base = this checkout: the path works
    try:
        status, payload = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        harness.interrupted_exit("servers stopped, databases dropped")
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    sys.exit(status)


if __name__ == "__main__":
    main()
