"""Throughput benchmark (issue 3, item 9): the resend endpoint under sustained load.

In one session: seeds a fresh PostgreSQL database and a SQLite file through the project's own
adapters (users with API keys, READY exports); then, one target at a time, starts a server
pinned to one core and loads it with wrk pinned to the other, POSTing
``/v1/exports/{id}/resend-email`` (``{"cc":[]}``) over many exports, first for a warm-up, then
for the measured duration. Targets: ``peer`` (bench/peer.py, Starlette + asyncpg),
``ours-pg`` and ``ours-sqlite`` (bench/service.py: ``create_app`` with sending switched off).
Before loading a PostgreSQL target it counts that target's database round trips per request
through a counting proxy (bench/wire.py). Reports requests/s, p50/p99, CPU per request and the
ratios to the peer. Databases, files and processes are cleaned up at the end, also on errors,
Ctrl-C and SIGTERM.

    .venv/bin/python -m bench.throughput                       # ~3 min
    .venv/bin/python -m bench.throughput --duration 10 --warmup 3 --targets peer,ours-pg
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from sqlalchemy.engine import URL

from bench.postgres import dsn, fresh_database, server_url, sqlalchemy_url
from bench.profile import summarise
from bench.shutdown import cancel_on_signals
from bench.wire import WireCounter
from export_resend.adapters.sql import Database, SqlAlchemyApiKeyStore
from export_resend.application.authenticate_caller import hash_api_key
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("peer", "ours-pg", "ours-sqlite")
TENANTS = 5
GOAL_RPS, GOAL_P99 = 0.6, 2.0


@dataclass(frozen=True, slots=True)
class Resendable:
    """One export that its owner's key may resend."""

    export_id: UUID
    api_key: str
    client: str


@dataclass(frozen=True, slots=True)
class Seed:
    """The users (with their keys) and the exports every database of the run holds."""

    keys: tuple[tuple[str, Caller], ...]
    exports: tuple[Export, ...]
    resendable: tuple[Resendable, ...]


def make_seed(users: int, exports_per_user: int) -> Seed:
    """Demo-like data: users in a few tenants, some suppliers, each owning READY exports."""
    now = datetime.now(UTC)
    keys, exports, resendable = [], [], []
    types = tuple(ExportType)
    for u in range(users):
        tenant = f"bench-{u % TENANTS}"
        supplier = u % 4 == 3
        caller = Caller(
            f"user-{u:03d}",
            f"user-{u:03d}@{tenant}.example.com",
            tenant,
            ClientType.SUPPLIER if supplier else ClientType.OPERATOR,
            f"supplier-{u:03d}" if supplier else None,
        )
        key = f"bench-{u:03d}-{uuid4().hex}"
        keys.append((key, caller))
        for e in range(exports_per_user):
            export = Export(
                id=uuid4(),
                tenant_id=tenant,
                type=types[e % len(types)],
                owner_id=caller.user_id,
                owner_email=caller.email,
                status=ExportStatus.READY,
                requested_at=now - timedelta(hours=1),
                cc=(f"finance@{tenant}.example.com",) if e % 3 == 0 else (),
                ready_at=now - timedelta(minutes=58),
                expires_at=now + timedelta(days=30),
                file=ExportFile(f"bench/{tenant}/{e}.csv", 48_213, 1_024, "0" * 64),
            )
            exports.append(export)
            resendable.append(Resendable(export.id, key, caller.client_type.value))
    return Seed(tuple(keys), tuple(exports), tuple(resendable))


async def load_seed(database_url: str, seed: Seed) -> None:
    """Put ``seed`` in the database through the project's adapters (SQLite: migrate first)."""
    database = Database(database_url)
    try:
        if database.file is not None:
            await database.upgrade()
        store = SqlAlchemyApiKeyStore(database.engine)
        for key, caller in seed.keys:
            await store.add(hash_api_key(key), caller)
        async with database.unit_of_work() as uow:
            for export in seed.exports:
                await uow.exports.add(export)
            await uow.commit()
    finally:
        await database.dispose()


def wrk_script(resendable: Sequence[Resendable]) -> str:
    """A wrk script that POSTs resends, each to a random export with its owner's key, and
    prints its results as one JSON line."""
    rows = ",\n".join(f'  {{"{r.export_id}", "{r.api_key}", "{r.client}"}}' for r in resendable)
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


def _count_sqlite_deliveries(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        count: int = connection.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        return count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_average() -> str:
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def child(argv: Sequence[str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process (its own session, so a terminal's Ctrl-C reaches only us), ended on
    exit: SIGTERM, then SIGKILL after 10 s."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=output, stderr=output, cwd=ROOT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def wait_listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"server not listening on {port} after 30 s; see {log}")


@dataclass
class Result:
    """What one target did under load."""

    target: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0
    server_us_per_request: float = 0.0
    postgres_us_per_request: float | None = None
    round_trips: float | None = None
    round_trip_breakdown: list[tuple[float, str]] = field(default_factory=list)
    connections_opened: int | None = None
    sessions_opened: int | None = None
    deliveries_committed: int | None = None
    profile: str | None = None


class Run:
    """One benchmark session: its databases, its files, its options."""

    def __init__(self, args: argparse.Namespace, postgres: URL, directory: Path, seed: Seed):
        self.args = args
        self.postgres = postgres
        self.directory = directory
        self.seed = seed
        self.sqlite_url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
        self.script = directory / "resend.lua"
        self.script.write_text(wrk_script(seed.resendable))

    def server_argv(self, target: str, postgres: URL) -> list[str]:
        """The command for ``target``: ``peer``, ``ours-pg`` or ``ours-sqlite``, optionally
        ``+pool=N`` for our pool size (EXPORT_RESEND_DATABASE_POOL_SIZE)."""
        base, *options = target.split("+")
        python = [sys.executable, "-m"]
        if base == "peer":
            pool = str(self.args.peer_pool_size)
            return [*python, "bench.peer", "--dsn", dsn(postgres), "--pool-size", pool]
        url = {"ours-pg": sqlalchemy_url(postgres), "ours-sqlite": self.sqlite_url}[base]
        argv = [*python, "bench.service", "--database-url", url]
        for option in options:
            name, _, value = option.partition("=")
            if name != "pool":
                raise SystemExit(f"unknown target option {option!r}: only +pool=N")
            argv += ["--pool-size", value]
        return argv

    def pinned(self, core: int, argv: Sequence[str]) -> list[str]:
        return ["taskset", "-c", str(core), *argv]

    @contextlib.asynccontextmanager
    async def server(
        self, target: str, postgres: URL | None = None
    ) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
        port = free_port()
        argv = [*self.server_argv(target, postgres or self.postgres), "--port", str(port)]
        log = self.directory / f"{target}.log"
        async with child(self.pinned(self.args.server_core, argv), log) as process:
            await wait_listening(port, process, log)
            yield port, process

    async def post(self, client: httpx.AsyncClient, resendable: Resendable) -> httpx.Response:
        return await client.post(
            f"/v1/exports/{resendable.export_id}/resend-email",
            headers={"dj-api-key": resendable.api_key, "dj-client": resendable.client},
            json={"cc": []},
        )

    async def preflight(self, port: int) -> None:
        """One request by hand: it must answer 200, or the load would measure errors."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await self.post(client, self.seed.resendable[0])
        if response.status_code != 200:
            raise RuntimeError(f"preflight: {response.status_code} {response.text}")

    async def count_round_trips(self, target: str, result: Result) -> None:
        """Sequential requests through the counting proxy, after a warm-up."""
        counter = WireCounter(self.postgres.host or "127.0.0.1", self.postgres.port or 5432)
        proxy = self.postgres.set(host="127.0.0.1", port=await counter.start())
        try:
            async with (
                self.server(target, proxy) as (port, _),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
            ):
                picks = self.seed.resendable
                for r in picks[:50]:
                    (await self.post(client, r)).raise_for_status()
                counter.reset()
                n = self.args.round_trip_requests
                for i in range(n):
                    (await self.post(client, picks[i % len(picks)])).raise_for_status()
                result.round_trips = sum(counter.round_trips.values()) / n
                result.round_trip_breakdown = [
                    (count / n, label) for label, count in counter.round_trips.most_common()
                ]
                result.connections_opened = counter.connections
        finally:
            await counter.close()

    async def wrk(self, port: int, seconds: float) -> dict[str, Any]:
        argv = self.pinned(
            self.args.client_core,
            [
                "wrk",
                f"-t{self.args.threads}",
                f"-c{self.args.connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(self.script),
                f"http://127.0.0.1:{port}",
            ],
        )
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), seconds + 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for line in out.decode().splitlines():
            if line.startswith("BENCH-JSON "):
                parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
                return parsed
        raise RuntimeError(f"wrk gave no result: {out.decode()} {err.decode()}")

    async def backend_pids(self) -> list[int]:
        connection = await asyncpg.connect(dsn(self.postgres))
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.postgres.database,
            )
            return [row["pid"] for row in rows]
        finally:
            await connection.close()

    async def sessions(self) -> int:
        """Connections ever opened to our database (PostgreSQL 14+)."""
        connection = await asyncpg.connect(dsn(self.postgres))
        try:
            count: int = await connection.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = $1",
                self.postgres.database,
            )
            return count
        finally:
            await connection.close()

    async def deliveries(self, postgres: bool = True) -> int:
        """How many deliveries the database holds."""
        if not postgres:
            return await asyncio.to_thread(_count_sqlite_deliveries, self.directory / "bench.db")
        connection = await asyncpg.connect(dsn(self.postgres))
        try:
            count: int = await connection.fetchval("SELECT count(*) FROM deliveries")
            return count
        finally:
            await connection.close()

    async def profile(self, pid: int, seconds: float, target: str) -> str:
        raw = Path(self.args.profile) / f"{target}.profile.txt"
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        argv = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
        argv += ["--rate", "100", "--nonblocking", "--function", "--format", "raw"]
        argv += ["--output", str(raw)]
        async with child(argv, self.directory / "py-spy.log") as process:
            await asyncio.wait_for(process.wait(), seconds + 60)
        return summarise(raw)

    async def measure(self, target: str) -> Result:
        result = Result(target)
        uses_postgres = not target.startswith("ours-sqlite")
        if uses_postgres and self.args.round_trip_requests:
            await self.count_round_trips(target, result)
        async with self.server(target) as (port, process):
            await self.preflight(port)
            before = await self.deliveries(uses_postgres)
            await self.wrk(port, self.args.warmup)
            pids = await self.backend_pids() if uses_postgres else []
            sessions = await self.sessions() if uses_postgres else 0
            server_start = cpu_seconds(process.pid)
            postgres_start = {pid: cpu_seconds(pid) for pid in pids}
            load = asyncio.create_task(self.wrk(port, self.args.duration))
            try:
                if self.args.profile and target in self.args.profile_targets.split(","):
                    result.profile = await self.profile(process.pid, self.args.duration - 1, target)
                figures = await load
            finally:
                load.cancel()
            server_cpu = cpu_seconds(process.pid) - server_start
            # a backend that has gone (pool churn) counts nothing: see "new conns"
            postgres_cpu = sum(
                max(0.0, cpu_seconds(pid) - start) for pid, start in postgres_start.items()
            )
            if uses_postgres:
                # minus the one that asks
                result.sessions_opened = await self.sessions() - sessions - 1
            result.deliveries_committed = await self.deliveries(uses_postgres) - before
        seconds = figures["duration_us"] / 1e6
        result.requests = figures["requests"]
        result.rps = figures["requests"] / seconds
        result.p50_ms = figures["p50_us"] / 1000
        result.p99_ms = figures["p99_us"] / 1000
        result.errors = {k: figures[k] for k in ("connect", "read", "write", "status", "timeout")}
        result.server_cpu = server_cpu / seconds
        result.server_us_per_request = 1e6 * server_cpu / max(1, figures["requests"])
        if uses_postgres:
            result.postgres_us_per_request = 1e6 * postgres_cpu / max(1, figures["requests"])
        return result


def report(results: Sequence[Result], args: argparse.Namespace) -> list[str]:
    """Prints the table and the ratios; returns what failed."""
    print(
        f"\n== resend under load: {args.connections} connections, {args.duration} s "
        f"(after {args.warmup} s warm-up), server on core {args.server_core}, "
        f"wrk on core {args.client_core}"
    )
    width = max(12, *(len(r.target) for r in results))
    print(
        f"{'target':{width}} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'sock err':>8} "
        f"{'srv CPU':>8} {'srv µs/req':>10} {'pg µs/req':>10} {'RT/req':>7} {'new conns':>9}"
    )
    failures = []
    for r in results:
        socket_errors = sum(v for k, v in r.errors.items() if k != "status")
        pg = "-" if r.postgres_us_per_request is None else f"{r.postgres_us_per_request:.0f}"
        trips = "-" if r.round_trips is None else f"{r.round_trips:.1f}"
        print(
            f"{r.target:{width}} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
            f"{r.errors['status']:8} {socket_errors:8} {100 * r.server_cpu:7.0f}% "
            f"{r.server_us_per_request:10.0f} "
            f"{pg:>10} {trips:>7} {'-' if r.sessions_opened is None else r.sessions_opened:>9}"
        )
        if r.errors["status"]:
            failures.append(f"{r.target}: {r.errors['status']} responses were not 2xx")
        if r.deliveries_committed is not None and r.deliveries_committed < r.requests:
            failures.append(
                f"{r.target}: {r.deliveries_committed} deliveries for {r.requests} responses"
            )
    print(
        "(srv CPU: the server process's CPU use, 100 % = its core; µs/req: CPU time per "
        "response; pg µs/req: CPU of the PostgreSQL backends that stayed connected; RT/req: "
        "database round trips per request, counted before the load; new conns: connections "
        "opened during the measured run, whose backends' CPU is not in pg µs/req)"
    )
    peer = next((r for r in results if r.target == "peer"), None)
    if peer is not None:
        print(f"\n== ratios to the peer (goal: req/s >= {GOAL_RPS}x, p99 <= {GOAL_P99}x)")
        for r in results:
            if r is peer:
                continue
            rps, p99 = r.rps / peer.rps, r.p99_ms / peer.p99_ms
            verdict = "ok" if rps >= GOAL_RPS and p99 <= GOAL_P99 else "BELOW GOAL"
            print(f"{r.target:{width}} req/s {rps:5.2f}x   p99 {p99:5.2f}x   {verdict}")
    for r in results:
        if r.round_trip_breakdown:
            print(
                f"\n== {r.target}: {r.round_trips:.2f} database round trips per request "
                f"({r.connections_opened} connections opened while counting)"
            )
            for per_request, label in r.round_trip_breakdown:
                print(f"  {per_request:5.2f}  {label}")
    for r in results:
        if r.profile:
            print(f"\n== {r.target}: py-spy profile under load\n{r.profile}")
    return failures


async def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install -y {tool} (see bench/README.md)")
    cancel_on_signals()
    targets = args.targets.split(",")
    before = load_average()
    print(f"load average before: {before}")
    seed = make_seed(args.users, args.exports_per_user)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_") as scratch:
        directory = Path(scratch)
        async with fresh_database(server_url(args.server)) as postgres:
            print(f"database: {postgres.database}; files: {directory}")
            run = Run(args, postgres, directory, seed)
            started = time.perf_counter()
            await load_seed(sqlalchemy_url(postgres), seed)
            if any(target.startswith("ours-sqlite") for target in targets):
                await load_seed(run.sqlite_url, seed)
            print(
                f"seeded {len(seed.keys)} users with keys and {len(seed.exports)} READY exports "
                f"in {time.perf_counter() - started:.1f} s"
            )
            for target in targets:
                print(f"running {target} …", flush=True)
                results.append(await run.measure(target))
    failures = report(results, args)
    after = load_average()
    print(f"\nload average after: {after}")
    for failure in failures:
        print(f"FAILED: {failure}")
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": vars(args),
        "load_before": before,
        "load_after": after,
        "results": [r.__dict__ for r in results],
        "failures": failures,
    }
    return (1 if failures else 0), payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"from {TARGETS}")
    parser.add_argument("--duration", type=int, default=30, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per target")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--exports-per-user", type=int, default=50)
    parser.add_argument("--peer-pool-size", type=int, default=20, help="as ours, by default")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument(
        "--round-trip-requests", type=int, default=200, help="0: do not count round trips"
    )
    parser.add_argument("--profile", help="py-spy the server under load; keep stacks here")
    parser.add_argument("--profile-targets", default="ours-pg", help="which targets to profile")
    parser.add_argument("--server", help="SQLAlchemy URL of the PostgreSQL server")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    try:
        status, payload = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped, database dropped", file=sys.stderr)
        sys.exit(130)
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    sys.exit(status)


if __name__ == "__main__":
    main()
