"""Scale benchmark (issue 3, item 8): do reads and resends stay as fast at 1M exports as at 10k?

Creates ``export_resend_bench_<random>`` on PostgreSQL, migrates it, then for each row count
(default 10,000 then 1,000,000) bulk-loads exports up to that count with COPY, runs
``VACUUM (ANALYZE)``, and times, through the project's own code (the container's
``SqlAlchemyUnitOfWork`` and ``ResendExportEmail``), get-by-id, history pages and resends.
Prints p50/p95/p99 per stage, the last/first ratios, and at the last stage the
``EXPLAIN (ANALYZE, BUFFERS)`` plan of every statement each operation sends. The database is
dropped at the end, also on errors and Ctrl-C.

    .venv/bin/python -m bench.scale                       # 10k then 1M, ~5 min
    .venv/bin/python -m bench.scale --rows 10000,100000 --iterations 200   # ~50 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import asyncpg
from dependency_injector import providers
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.harness import SMOKE
from bench.notifier import DiscardingNotifier
from bench.postgres import dsn, fresh_database, server_url, sqlalchemy_url
from bench.shutdown import cancel_on_signals
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.container import Container
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import ExportQuery, ExportStatus, ExportType
from export_resend.service import ExportResend
from export_resend.settings import Settings

COLUMNS = (
    "id",
    "tenant_id",
    "type",
    "owner_id",
    "owner_email",
    "cc",
    "status",
    "requested_at",
    "ready_at",
    "expires_at",
    "storage_key",
    "size_bytes",
    "row_count",
    "sha256",
    "failure_reason",
    "version",
)
LINK_SECRET = "bench-only-link-secret-0123456789abcdef"  # noqa: S105 (no link is made)
TENANTS = 200
USERS_PER_TENANT = 50
HISTORY = timedelta(days=730)
TTL = timedelta(days=7)
CHUNK = 50_000
SAMPLE = 20_000
PAGE_SIZE = 20
STEADY = -1
EXPORT_TYPES = tuple(ExportType)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReadyExport:
    """A READY export and its owner, who may resend it."""

    id: UUID
    owner: Caller


class Reservoir(Generic[T]):
    """A uniform random sample of at most ``size`` of everything offered (algorithm R)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.items: list[T] = []
        self._size = size
        self._seen = 0
        self._rng = rng

    def offer(self, item: T) -> None:
        self._seen += 1
        if len(self.items) < self._size:
            self.items.append(item)
        elif (slot := self._rng.randrange(self._seen)) < self._size:
            self.items[slot] = item


@dataclass
class Population:
    """What the loader made: samples to draw ids from, and how much each owner holds."""

    now: datetime
    rng: random.Random
    loaded: int = 0
    ids: Reservoir[UUID] = field(init=False)
    ready: Reservoir[ReadyExport] = field(init=False)
    per_owner: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = Reservoir(SAMPLE, self.rng)
        self.ready = Reservoir(SAMPLE, self.rng)


def owner(index: int) -> tuple[str, str, str]:
    """Tenant id, user id and email of owner ``index`` (0 is the busiest; ``STEADY`` has the
    same number of exports at every size)."""
    if index == STEADY:
        return "tenant-000", "user-steady", "user-steady@t000.example.com"
    tenant, user = index % TENANTS, index // TENANTS
    return f"tenant-{tenant:03d}", f"user-{user:03d}", f"user-{user:03d}@t{tenant:03d}.example.com"


def _status(age: timedelta, roll: float) -> tuple[ExportStatus, bool]:
    """The stored status of an export requested ``age`` ago, and whether it has a file."""
    if age < timedelta(minutes=10):
        if roll < 0.6:
            return ExportStatus.PENDING, False
        return (ExportStatus.READY, True) if roll < 0.95 else (ExportStatus.FAILED, False)
    if age < TTL:
        return (ExportStatus.READY, True) if roll < 0.9 else (ExportStatus.FAILED, False)
    if roll < 0.88:
        return ExportStatus.EXPIRED, True
    # the expiry job has not reached these yet: effectively EXPIRED, stored READY
    return (ExportStatus.READY, True) if roll < 0.95 else (ExportStatus.FAILED, False)


def records(population: Population, count: int, steady: bool = False) -> Iterator[tuple[Any, ...]]:
    """``count`` export rows: 10,000 owners in 200 tenants, skewed (owner 0 has ~1 %), all
    statuses, requested over two years, mostly without CC; all of the steady owner's if
    ``steady``."""
    rng, now = population.rng, population.now
    owners = TENANTS * USERS_PER_TENANT
    for _ in range(count):
        index = STEADY if steady else int(owners * rng.random() ** 2)
        tenant_id, owner_id, email = owner(index)
        requested_at = now - HISTORY * rng.random() ** 1.5
        status, has_file = _status(now - requested_at, rng.random())
        ready_at = requested_at + timedelta(minutes=2) if has_file else None
        expires_at = ready_at + TTL if ready_at else None
        cc_roll = rng.random()
        cc = [] if cc_roll < 0.7 else [f"finance@t{tenant_id[-3:]}.example.com"]
        if cc_roll > 0.9:
            cc.append(f"audit@t{tenant_id[-3:]}.example.com")
        export_id = uuid4()
        population.ids.offer(export_id)
        population.per_owner[index] = population.per_owner.get(index, 0) + 1
        if status is ExportStatus.READY and expires_at and expires_at > now + timedelta(hours=1):
            caller = Caller(owner_id, email, tenant_id, ClientType.OPERATOR)
            population.ready.offer(ReadyExport(export_id, caller))
        yield (
            export_id,
            tenant_id,
            rng.choice(EXPORT_TYPES).value,
            owner_id,
            email,
            json.dumps(cc),
            status.value,
            requested_at,
            ready_at,
            expires_at,
            f"exports/{tenant_id}/{export_id}.csv" if has_file else None,
            rng.randrange(1_000, 50_000_000) if has_file else None,
            rng.randrange(1, 500_000) if has_file else None,
            export_id.hex * 2 if has_file else None,
            "the row source was unavailable" if status is ExportStatus.FAILED else None,
            0,
        )


async def load(url: URL, population: Population, target: int, steady: int) -> float:
    """Add exports until there are ``target`` (the first time, ``steady`` of them the steady
    owner's); VACUUM (ANALYZE). Returns the seconds taken."""
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn(url))
    try:
        if population.loaded == 0:
            await connection.copy_records_to_table(
                "exports", records=list(records(population, steady, steady=True)), columns=COLUMNS
            )
            population.loaded += steady
        while population.loaded < target:
            count = min(CHUNK, target - population.loaded)
            await connection.copy_records_to_table(
                "exports", records=list(records(population, count)), columns=COLUMNS
            )
            population.loaded += count
        await connection.execute("VACUUM (ANALYZE) exports")
    finally:
        await connection.close()
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Timing:
    """The latencies of one operation at one size, in milliseconds."""

    operation: str
    samples: tuple[float, ...]
    items: float

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


Operation = Callable[[], Awaitable[int]]


async def timed(name: str, operation: Operation, iterations: int, warmup: int) -> Timing:
    """Run ``operation`` ``warmup`` times, then time it ``iterations`` times, one at a time."""
    for _ in range(warmup):
        await operation()
    samples, items = [], 0
    for _ in range(iterations):
        started = time.perf_counter_ns()
        items += await operation()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return Timing(name, tuple(samples), items / iterations)


@dataclass
class Captured:
    """The statements (and their parameters) an operation sent, through SQLAlchemy or on the
    asyncpg connection underneath (the PostgreSQL unit of work's path)."""

    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|SHOW|RESET)\b", re.I)
_ASYNCPG_METHODS = ("execute", "fetch", "fetchrow", "fetchval")


@contextmanager
def capturing(engine: AsyncEngine) -> Iterator[Captured]:
    """Record every statement sent while inside the block (transaction control left out)."""
    captured = Captured()

    def keep(statement: str, parameters: Sequence[Any]) -> None:
        if not _CONTROL.match(statement):
            captured.statements.append((statement, tuple(parameters)))

    def before(_conn: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        keep(statement, parameters or ())

    originals = {name: getattr(asyncpg.Connection, name) for name in _ASYNCPG_METHODS}

    def spy(name: str) -> Callable[..., Any]:
        original = originals[name]

        async def recorded(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            keep(query, args)
            return await original(self, query, *args, **kwargs)

        return recorded

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    for name in _ASYNCPG_METHODS:
        setattr(asyncpg.Connection, name, spy(name))
    try:
        yield captured
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
        event.remove(engine.sync_engine, "before_cursor_execute", before)


class Bench:
    """The operations under test, built by the project's container on one database."""

    def __init__(self, url: URL, population: Population, status: ExportStatus, page: int) -> None:
        settings = Settings(
            database_url=sqlalchemy_url(url),
            link_secret=SecretStr(LINK_SECRET),
            serve_dispatcher=False,
        )
        self.container = Container(settings=settings)
        self.container.dispatcher.override(providers.Object(DiscardingNotifier()))
        self.service = ExportResend(container=self.container)
        self._running = contextlib.AsyncExitStack()
        self.unit_of_work = self.container.unit_of_work
        self.resend = self.container.resend_export_email()
        self.clock = self.container.clock()
        self.engine: AsyncEngine = self.container.database().engine
        self.population = population
        self.status = status
        self.later_page = page

    def operations(self) -> dict[str, Operation]:
        pick = self.population.rng.choice

        async def get_by_id() -> int:
            async with self.unit_of_work() as uow:
                return int(await uow.exports.get(pick(self.population.ids.items)) is not None)

        def history(who: int, page: int, status: ExportStatus | None) -> Operation:
            tenant_id, owner_id, _ = owner(who)
            query = ExportQuery(tenant_id, owner_id, status=status, page=page, size=PAGE_SIZE)

            async def run() -> int:
                async with self.unit_of_work() as uow:
                    return len((await uow.exports.list(query, self.clock.now())).items)

            return run

        async def resend() -> int:
            ready = pick(self.population.ready.items)
            command = ResendExportEmailCommand(export_id=ready.id)
            await self.resend(ready.owner, command)
            return 1

        operations: dict[str, Operation] = {"get-by-id": get_by_id}
        later, status = self.later_page, self.status
        for who, name in ((STEADY, "steady owner"), (0, "busiest owner")):
            operations[f"history p0, {name}"] = history(who, 0, None)
            operations[f"history p{later}, {name}"] = history(who, later, None)
            operations[f"history p0 {status.value}, {name}"] = history(who, 0, status)
            operations[f"history p{later} {status.value}, {name}"] = history(who, later, status)
        operations["resend (use case, commits)"] = resend
        return operations

    async def measure(self, iterations: int, warmup: int) -> list[Timing]:
        return [
            await timed(name, operation, iterations, warmup)
            for name, operation in self.operations().items()
        ]

    async def explain(self, url: URL) -> list[tuple[str, str, str]]:
        """(operation, statement, plan) for each statement of each operation, run once more
        under ``EXPLAIN (ANALYZE, BUFFERS)`` in a transaction that is rolled back."""
        plans = []
        connection = await asyncpg.connect(dsn(url))
        try:
            for name, operation in self.operations().items():
                with capturing(self.engine) as captured:
                    await operation()
                transaction = connection.transaction()
                await transaction.start()
                try:
                    for statement, parameters in captured.statements:
                        if statement.lstrip().upper().startswith("INSERT INTO DELIVERIES"):
                            # the operation committed this very row: take it out, for now
                            await connection.execute(
                                "DELETE FROM deliveries WHERE id = $1", parameters[0]
                            )
                        rows = await connection.fetch(
                            f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *parameters
                        )
                        plan = "\n".join(str(row[0]) for row in rows)
                        plans.append((name, statement, plan))
                finally:
                    await transaction.rollback()
        finally:
            await connection.close()
        return plans

    async def open(self) -> None:
        """Run the service (storage only: the benchmark drives the use cases itself)."""
        await self._running.enter_async_context(self.service.running())

    async def close(self) -> None:
        await self._running.aclose()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above ~0.5 someone else is busy)."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


@dataclass(frozen=True, slots=True)
class Work:
    """What the database did for one run of an operation, by EXPLAIN (ANALYZE, BUFFERS):
    pages touched (a measure of work that machine load does not change) and time spent."""

    buffers: int
    execution_ms: float


BUFFERS = re.compile(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?")
EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


def work(plans: Sequence[tuple[str, str, str]]) -> dict[str, Work]:
    """The database's work per operation: the sums over the operation's statements of the top
    plan node's buffers (hit + read) and of the execution times."""
    totals: dict[str, Work] = {}
    for name, _statement, plan in plans:
        buffers = BUFFERS.search(plan)
        execution = EXECUTION.search(plan)
        pages = sum(int(n) for n in buffers.groups() if n) if buffers else 0
        ms = float(execution[1]) if execution else 0.0
        before = totals.get(name, Work(0, 0.0))
        totals[name] = Work(before.buffers + pages, before.execution_ms + ms)
    return totals


@dataclass(frozen=True, slots=True)
class Stage:
    """The figures at one size."""

    rows: int
    timings: list[Timing]
    work: dict[str, Work]


def report(stages: Sequence[Stage]) -> None:
    for stage in stages:
        print(f"\n== {stage.rows:,} exports: latency in ms (one operation at a time)")
        print(
            f"{'operation':44} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'items':>6} "
            f"{'db pages':>8} {'db ms':>7}"
        )
        for t in stage.timings:
            done = stage.work.get(t.operation)
            db = f"{done.buffers:8} {done.execution_ms:7.3f}" if done else f"{'-':>8} {'-':>7}"
            print(
                f"{t.operation:44} {len(t.samples):6} {t.percentile(50):8.3f} "
                f"{t.percentile(95):8.3f} {t.percentile(99):8.3f} {t.items:6.1f} {db}"
            )
    print(
        "(db pages, db ms: buffers touched and execution time of the operation's statements, "
        "one run under EXPLAIN ANALYZE)"
    )
    if len(stages) < 2:
        return
    small, large = stages[0], stages[-1]
    print(f"\n== ratio {large.rows:,} / {small.rows:,} (goal: p50 ratio < 1.5)")
    print(f"{'operation':44} {'p50':>6} {'p95':>6} {'p99':>6} {'pages':>6}  verdict")
    for a, b in zip(small.timings, large.timings, strict=True):
        ratios = [b.percentile(p) / a.percentile(p) for p in (50, 95, 99)]
        before, after = small.work.get(a.operation), large.work.get(a.operation)
        pages = f"{after.buffers / before.buffers:6.1f}" if before and after else f"{'-':>6}"
        verdict = "ok" if ratios[0] < 1.5 else "OVER GOAL"
        print(
            f"{a.operation:44} {ratios[0]:6.2f} {ratios[1]:6.2f} {ratios[2]:6.2f} {pages}  "
            f"{verdict}"
        )


def checks(stages: Sequence[Stage], args: argparse.Namespace) -> list[str]:
    """What makes the run wrong, whatever the speed: an operation that found nothing where
    the data has something (the steady owner's pages are full at every size), or whose
    statements were not captured for EXPLAIN."""
    expected = {
        "get-by-id": 1.0,
        "history p0, steady owner": PAGE_SIZE,
        f"history p{args.later_page}, steady owner": PAGE_SIZE,
        "resend (use case, commits)": 1.0,
    }
    failures = []
    for stage in stages:
        items = {t.operation: t.items for t in stage.timings}
        for operation, wanted in expected.items():
            if items.get(operation) != wanted:
                failures.append(
                    f"{stage.rows:,} exports, {operation}: {items.get(operation)} items on "
                    f"average, {wanted} expected"
                )
    if stages and not args.no_explain:
        for timing in stages[-1].timings:
            if timing.operation not in stages[-1].work:
                failures.append(f"{timing.operation}: no statement captured for EXPLAIN")
    return failures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cancel_on_signals()
    sizes = sorted(int(size) for size in args.rows.split(","))
    population = Population(now=datetime.now(UTC), rng=random.Random(args.seed))  # noqa: S311
    stages: list[Stage] = []
    failures: list[str] = []
    results: dict[str, Any] = {"rows": sizes, "iterations": args.iterations, "stages": []}
    results["load_before"] = load_average()
    print(f"load average before: {results['load_before']}")
    async with fresh_database(server_url(args.server)) as url:
        print(f"database: {url.database}")
        bench = Bench(url, population, ExportStatus(args.status), args.later_page)
        plans: list[tuple[str, str, str]] = []
        try:
            await bench.open()
            for size in sizes:
                seconds = await load(url, population, size, args.steady_owner_exports)
                busiest = population.per_owner.get(0, 0)
                print(
                    f"loaded {size:,} exports in {seconds:.1f} s (incl. VACUUM ANALYZE); "
                    f"the steady owner has {population.per_owner.get(STEADY, 0):,}, "
                    f"the busiest {busiest:,}; "
                    f"{len(population.ready.items):,} READY exports sampled for resends",
                    flush=True,
                )
                timings = await bench.measure(args.iterations, args.warmup)
                plans = [] if args.no_explain else await bench.explain(url)
                stages.append(Stage(size, timings, work(plans)))
                results["stages"].append(
                    {
                        "rows": size,
                        "busiest_owner_exports": busiest,
                        "load_seconds": round(seconds, 1),
                        "load_average": load_average(),
                        "timings": {
                            t.operation: {
                                "p50": t.percentile(50),
                                "p95": t.percentile(95),
                                "p99": t.percentile(99),
                                "items": t.items,
                            }
                            for t in timings
                        },
                        "db": {name: dataclasses.asdict(w) for name, w in stages[-1].work.items()},
                    }
                )
            report(stages)
            failures += checks(stages, args)
            results["failures"] = failures
            if plans:
                print(f"\n== plans at {sizes[-1]:,} exports: EXPLAIN (ANALYZE, BUFFERS)")
                for name, statement, plan in plans:
                    print(f"\n-- {name}\n{statement}\n{plan}")
        finally:
            await bench.close()
    results["load_after"] = load_average()
    print(f"\nload average after: {results['load_after']}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", help="sizes to measure, ascending (default 10000,1000000)")
    parser.add_argument("--iterations", type=int, help="timed runs per operation (1000)")
    parser.add_argument("--warmup", type=int, help="untimed runs per operation (100)")
    parser.add_argument("--status", default="READY", help="the status filter of history pages")
    parser.add_argument("--later-page", type=int, default=4, help="the 'later' page number")
    parser.add_argument(
        "--steady-owner-exports", type=int, default=200, help="the steady owner's exports"
    )
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--server", help="SQLAlchemy URL of the server (default: local)")
    parser.add_argument(
        "--no-explain", action="store_true", help="skip EXPLAIN (and the db columns)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help=SMOKE)
    args = parser.parse_args()
    defaults = {
        "rows": "1000,2000" if args.smoke else "10000,1000000",
        "iterations": 5 if args.smoke else 1000,
        "warmup": 1 if args.smoke else 100,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        results = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: database dropped", file=sys.stderr)
        sys.exit(130)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)
    sys.exit(1 if results.get("failures") else 0)


if __name__ == "__main__":
    main()
