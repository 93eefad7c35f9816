"""Export generation benchmark: how fast a CSV export is written, and whether memory stays flat.

Every measurement runs in a fresh process (this module again, with ``--child``), so that its
baseline is the interpreter after imports and its peak RSS (``ru_maxrss``, a high-water mark)
belongs to that one generation. What a child does, after building a PENDING ``Export``
(``filters=None``, no supplier scope) and a ``DemoRowSource(rows=N, seed=0)``:

- ``source``: iterates ``ExportKind.rows(source, ...)``, nothing else;
- ``encode``: the same, in batches of ``--batch-size``, each through ``CsvEncoder.encode``
  (this module's loop: no digest, no writer, no file);
- ``no-file``: the real ``ExportFileWriter`` (its batching, the encoder and the SHA-256)
  into a file store that discards the bytes;
- ``full``: the real path, ``ExportFileWriter(rows=..., files=LocalFileStore(tmpdir))``,
  ``await writer(export, key)``: written, fsynced and renamed into place;
- ``store``: the file store alone: the first batch's CSV, encoded beforehand, written as
  many times as the export has batches through ``LocalFileStore`` and committed; then the
  SHA-256 of the same bytes, timed apart.

In one session:

1. ``--runs`` rounds of the five modes at ``--rows``, interleaved (so that a busy moment of
   the machine hits every mode alike): seconds, rows/s, MB, MB/s, CPU seconds, and the peak
   RSS growth over the child's baseline; then the medians, and where the time goes (each
   stage minus the one before);
2. one ``full`` run under ``tracemalloc``: the peak of Python's allocations during the
   generation (tracemalloc slows every allocation ~9 times here, so its run is timed but
   not comparable);
3. flatness: ``full`` at each of ``--flat-rows``, once with RSS and once with tracemalloc
   (at ``--rows``, the runs of 1 and 2 serve); a run estimated (from 1 and 2) to take over
   ``--flat-max-seconds`` is skipped: with the defaults, 3,000,000 rows under tracemalloc.

    .venv/bin/python -m bench.generation                      # 1M rows, 3 rounds, ~2.5 min
    .venv/bin/python -m bench.generation --rows 200000 --runs 1 --flat-rows 100000,200000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench.harness import SMOKE, die_with_parent
from export_resend.adapters.demo.row_source import DemoRowSource
from export_resend.adapters.files.local import LocalFileStore
from export_resend.application.csv_writer import CsvEncoder
from export_resend.application.generation import (
    ExportFileWriter,
    storage_key,
)
from export_resend.domain.export import Export, ExportStatus, ExportType
from export_resend.domain.ports import FileMissing, FileStore, FileWriter, checked_file_key
from export_resend.domain.records import Record

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("source", "encode", "no-file", "full")
"""Each does what the one before it does, and more."""
MODES = (*STAGES, "store")
MODE_LABELS = {
    "source": "demo source alone",
    "encode": "source + CSV encoding",
    "no-file": "ExportFileWriter, no file",
    "full": "full path, LocalFileStore",
    "store": "LocalFileStore alone",
}
MB = 1_000_000
MIB = 1024 * 1024


# -- the child: one generation in a fresh process --------------------------------------------


class _DiscardingWriter(FileWriter):
    def __init__(self) -> None:
        self.size = 0

    async def write(self, data: bytes) -> None:
        self.size += len(data)

    async def commit(self) -> None:
        return None


class DiscardingFileStore(FileStore):
    """A file store that keeps nothing: the writer's cost without the disk's."""

    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]:
        checked_file_key(key)
        return self._writer()

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[FileWriter]:
        yield _DiscardingWriter()

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        raise FileMissing(key)

    async def delete(self, key: str) -> None:
        checked_file_key(key)


def pending_export(export_type: ExportType) -> Export:
    return Export(
        id=uuid4(),
        tenant_id="tenant-bench",
        type=export_type,
        owner_id="user-bench",
        owner_email="owner@bench.example.com",
        status=ExportStatus.PENDING,
        requested_at=datetime.now(UTC),
        filters=None,
    )


def _rss_kib() -> int:
    """The current resident set size, KiB."""
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


async def _source_only(source: DemoRowSource, export: Export) -> tuple[int, int]:
    rows = 0
    async for _ in export.type.kind.rows(source, export.scope, export.filters):
        rows += 1
    return rows, 0


async def _encode_only(source: DemoRowSource, export: Export, batch_size: int) -> tuple[int, int]:
    encoder = CsvEncoder(export.type.kind.record)
    size, rows = len(encoder.header_bytes()), 0
    batch: list[Record] = []
    async for record in export.type.kind.rows(source, export.scope, export.filters):
        batch.append(record)
        if len(batch) >= batch_size:
            size += len(encoder.encode(batch))
            rows += len(batch)
            batch = []
    if batch:
        size += len(encoder.encode(batch))
        rows += len(batch)
    return rows, size


async def _writer(
    source: DemoRowSource, export: Export, batch_size: int, files: FileStore
) -> tuple[int, int]:
    writer = ExportFileWriter(rows=source, files=files, batch_size=batch_size)
    written = await writer(export, storage_key(export, uuid4()))
    return written.row_count, written.size_bytes


def _committed_bytes(directory: Path) -> int:
    """The size of the committed files in ``directory`` (not the hidden ``.part`` ones)."""
    return sum(p.stat().st_size for p in directory.iterdir() if not p.name.startswith("."))


async def _sample_batch(source: DemoRowSource, export: Export, batch_size: int) -> bytes:
    """The CSV of the export's first batch."""
    encoder = CsvEncoder(export.type.kind.record)
    batch: list[Record] = []
    records = export.type.kind.rows(source, export.scope, export.filters)
    async for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            break
    await records.aclose()  # type: ignore[attr-defined]
    return encoder.encode(batch)


async def _store_only(
    store: LocalFileStore, header: bytes, chunk: bytes, chunks: int
) -> tuple[int, int]:
    """The file store's share: as many bytes as the export, already encoded, written and
    committed through ``LocalFileStore`` as ``ExportFileWriter`` does."""
    async with store.writer(f"store-{uuid4().hex}.csv") as out:
        await out.write(header)
        for _ in range(chunks):
            await out.write(chunk)
        await out.commit()
    return 0, len(header) + chunks * len(chunk)


def _sha256_seconds(header: bytes, chunk: bytes, chunks: int) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256(header)
    for _ in range(chunks):
        digest.update(chunk)
    digest.hexdigest()
    return time.perf_counter() - start


async def child(args: argparse.Namespace) -> dict[str, Any]:
    """One generation in ``args.child`` mode; the figures, for the parent."""
    export = pending_export(ExportType(args.type))
    source = DemoRowSource(rows=args.rows, seed=0)
    header = CsvEncoder(export.type.kind.record).header_bytes()
    chunk, chunks = b"", 0
    if args.child == "store":
        chunk = await _sample_batch(source, export, args.batch_size)
        chunks = -(-args.rows // args.batch_size)
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_", dir=args.dir) as scratch:
        store = LocalFileStore(scratch)
        run: Callable[[], Any] = {
            "source": lambda: _source_only(source, export),
            "encode": lambda: _encode_only(source, export, args.batch_size),
            "no-file": lambda: _writer(source, export, args.batch_size, DiscardingFileStore()),
            "full": lambda: _writer(source, export, args.batch_size, store),
            "store": lambda: _store_only(store, header, chunk, chunks),
        }[args.child]
        gc.collect()
        rss_before, hwm_before = _rss_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if args.tracemalloc:
            tracemalloc.start()
            traced_before = tracemalloc.get_traced_memory()[0]
        cpu, start = _cpu_seconds(), time.perf_counter()
        rows, size = await run()
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        traced_peak = None
        if args.tracemalloc:
            traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
            tracemalloc.stop()
        hwm_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        on_disk = sha256_seconds = None
        if args.child in {"full", "store"}:
            on_disk = _committed_bytes(Path(scratch))  # after the measurement
        if args.child == "store":
            rows = args.rows  # nominally: the bytes of that many rows
            sha256_seconds = _sha256_seconds(header, chunk, chunks)
    return {
        "mode": args.child,
        "type": args.type,
        "requested_rows": args.rows,
        "batch_size": args.batch_size,
        "tracemalloc": args.tracemalloc,
        "rows": rows,
        "bytes": size,
        "on_disk": on_disk,
        "seconds": seconds,
        "cpu": cpu,
        "rss_before_kib": rss_before,
        "hwm_before_kib": hwm_before,
        "hwm_after_kib": hwm_after,
        "traced_peak": traced_peak,
        "sha256_seconds": sha256_seconds,
    }


# -- the parent: runs children, reports -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    mode: str
    rows: int
    bytes: int
    seconds: float
    cpu: float
    rss_before_kib: int
    hwm_before_kib: int
    hwm_after_kib: int
    traced_peak: int | None
    tracemalloc: bool
    sha256_seconds: float | None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds

    @property
    def rss_growth(self) -> float:
        """Peak RSS during the generation over the RSS it started from, MiB. Exact when the
        high-water mark rose; otherwise an upper bound (the peak stayed under the old mark;
        the two counters can differ by a page or two, so it is never shown below 0)."""
        return max(0.0, (self.hwm_after_kib - self.rss_before_kib) / 1024)

    @property
    def hwm_rose(self) -> bool:
        return self.hwm_after_kib > self.hwm_before_kib


def spawn(args: argparse.Namespace, mode: str, rows: int, *, traced: bool = False) -> Result:
    command = [
        sys.executable,
        "-m",
        "bench.generation",
        "--child",
        mode,
        "--rows",
        str(rows),
        "--type",
        args.type,
        "--batch-size",
        str(args.batch_size),
    ]
    if args.dir:
        command += ["--dir", args.dir]
    if traced:
        command.append("--tracemalloc")
    done = subprocess.run(  # noqa: S603 - this interpreter, this module
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=die_with_parent,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child {mode} {rows} failed with exit status {done.returncode}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["rows"] != rows:  # an unscoped export without filters: every candidate
        raise SystemExit(f"child {mode}: {figures['rows']} rows, {rows} expected")
    if mode != "source" and not figures["bytes"]:
        raise SystemExit(f"child {mode}: no CSV bytes for {rows} rows")
    if figures["on_disk"] is not None and figures["on_disk"] != figures["bytes"]:
        raise SystemExit(f"file on disk {figures['on_disk']} bytes, writer said {figures['bytes']}")
    return Result(
        mode=mode,
        rows=figures["rows"],
        bytes=figures["bytes"],
        seconds=figures["seconds"],
        cpu=figures["cpu"],
        rss_before_kib=figures["rss_before_kib"],
        hwm_before_kib=figures["hwm_before_kib"],
        hwm_after_kib=figures["hwm_after_kib"],
        traced_peak=figures["traced_peak"],
        tracemalloc=traced,
        sha256_seconds=figures["sha256_seconds"],
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above ~0.5 someone else is busy)."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


HEADER = (
    f"{'run':>3} {'mode':26} {'rows':>9} {'s':>6} {'rows/s':>8} {'MB':>6} {'MB/s':>6} "
    f"{'CPU s':>6} {'RSS+ MiB':>8} {'base MiB':>8} {'traced MiB':>10}"
)


def line(run: str, r: Result) -> str:
    mb = f"{r.bytes / MB:6.1f}" if r.bytes else f"{'-':>6}"
    mbs = f"{r.mb_per_s:6.1f}" if r.bytes else f"{'-':>6}"
    growth = f"{r.rss_growth:7.1f}{'' if r.hwm_rose else '≤'}"
    traced = "-" if r.traced_peak is None else f"{r.traced_peak / MIB:.2f}"
    rate = f"{'-':>8}" if r.mode == "store" else f"{r.rate:8,.0f}"
    return (
        f"{run:>3} {MODE_LABELS[r.mode]:26} {r.rows:9,} {r.seconds:6.2f} {rate} {mb} "
        f"{mbs} {r.cpu:6.2f} {growth:>8} {r.rss_before_kib / 1024:8.1f} {traced:>10}"
    )


def spread(values: Sequence[float], digits: int = 0) -> str:
    """Median and range."""
    return (
        f"{statistics.median(values):,.{digits}f} "
        f"({min(values):,.{digits}f}..{max(values):,.{digits}f})"
    )


def summary(rounds: Sequence[Sequence[Result]]) -> None:
    def of(mode: str) -> list[Result]:
        return [r for rs in rounds for r in rs if r.mode == mode]

    print(f"\n== median (range) over {len(rounds)} run(s)")
    print(f"{'mode':26} {'s':>20} {'rows/s':>28} {'MB/s':>18} {'CPU s':>20} {'RSS+ MiB':>15}")
    for mode in MODES:
        runs = of(mode)
        rate = "-" if mode == "store" else spread([r.rate for r in runs])
        mbs = spread([r.mb_per_s for r in runs], 1) if runs[0].bytes else "-"
        print(
            f"{MODE_LABELS[mode]:26} {spread([r.seconds for r in runs], 2):>20} {rate:>28} "
            f"{mbs:>18} {spread([r.cpu for r in runs], 2):>20} "
            f"{spread([r.rss_growth for r in runs], 1):>15}"
        )
    wall = {mode: statistics.median(r.seconds for r in of(mode)) for mode in MODES}
    cpu = {mode: statistics.median(r.cpu for r in of(mode)) for mode in MODES}
    print(
        "\n== where the time goes: each stage's median minus the previous one's "
        "(wall s, CPU s, share of the full path's CPU)"
    )
    previous = "", 0.0, 0.0
    for mode, what in (
        ("source", "making the records (DemoRowSource)"),
        ("encode", "CSV encoding (CsvEncoder.encode, in batches)"),
        ("no-file", "ExportFileWriter's own work (async batching, SHA-256)"),
        ("full", "the file store (LocalFileStore: buffer, thread writes, fsync, rename)"),
    ):
        extra_wall, extra_cpu = wall[mode] - previous[1], cpu[mode] - previous[2]
        print(
            f"  {extra_wall:6.2f} {extra_cpu:6.2f} {100 * extra_cpu / cpu['full']:5.1f} %  {what}"
        )
        previous = mode, wall[mode], cpu[mode]
    sha = statistics.median(r.sha256_seconds or 0.0 for r in of("store"))
    megabytes = of("store")[0].bytes / MB
    print(
        f"  measured alone, on {megabytes:.1f} MB of pre-encoded CSV: LocalFileStore "
        f"{wall['store']:.2f} s wall, {cpu['store']:.2f} s CPU; SHA-256 {sha:.2f} s"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    print(
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.machine()}, load average before: {load_average()}"
    )
    print(
        f"export type {args.type}, batch size {args.batch_size}, DemoRowSource seed 0; "
        f"every run in a fresh process; files in {args.dir or tempfile.gettempdir()}"
    )
    print(f"\n== {args.runs} round(s) of the five modes at {args.rows:,} rows")
    print(HEADER)
    rounds: list[list[Result]] = []
    for index in range(args.runs):
        results = []
        for mode in MODES:
            result = spawn(args, mode, args.rows)
            print(line(str(index + 1), result), flush=True)
            results.append(result)
        rounds.append(results)
    summary(rounds)

    print(f"\n== tracemalloc: the full path at {args.rows:,} rows, in its own (slower) run")
    print(HEADER)
    traced = spawn(args, "full", args.rows, traced=True)
    print(line("tm", traced), flush=True)

    full_runs = [r for rs in rounds for r in rs if r.mode == "full"]
    rate = statistics.median(r.rate for r in full_runs)
    traced_rate = traced.rate
    flat: list[tuple[Result, Result | None]] = []
    sizes = [int(size) for size in args.flat_rows.split(",") if size]
    if sizes:
        reused = f"at {args.rows:,}: the runs above; " if args.rows in sizes else ""
        print(
            f"\n== flatness: the full path at {', '.join(f'{s:,}' for s in sizes)} rows "
            f"({reused}a run expected to take over {args.flat_max_seconds:.0f} s is skipped)"
        )
        print(HEADER)
    for size in sizes:
        if size == args.rows:
            flat.append(
                (sorted(full_runs, key=lambda r: r.rss_growth)[len(full_runs) // 2], traced)
            )
            continue
        if size / rate > args.flat_max_seconds:
            print(f"{size:,} rows skipped: ~{size / rate:.0f} s expected")
            continue
        plain = spawn(args, "full", size)
        print(line("rss", plain), flush=True)
        with_tracemalloc = None
        if size / traced_rate > args.flat_max_seconds:
            print(f"{size:,} rows under tracemalloc skipped: ~{size / traced_rate:.0f} s expected")
        else:
            with_tracemalloc = spawn(args, "full", size, traced=True)
            print(line("tm", with_tracemalloc), flush=True)
        flat.append((plain, with_tracemalloc))
    if flat:
        print(f"\n{'rows':>10} {'s':>6} {'RSS+ MiB':>9} {'tracemalloc peak MiB':>21}")
        for plain, with_tracemalloc in sorted(flat, key=lambda pair: pair[0].rows):
            peak = "-"
            if with_tracemalloc is not None and with_tracemalloc.traced_peak is not None:
                peak = f"{with_tracemalloc.traced_peak / MIB:.2f}"
            print(f"{plain.rows:10,} {plain.seconds:6.2f} {plain.rss_growth:9.1f} {peak:>21}")
    print(
        "\n(s, rows/s, MB/s: wall time of the generation alone, not the process's start-up; "
        "MB = 10^6 bytes of CSV; CPU s: user + system of every thread; RSS+: peak RSS "
        "(ru_maxrss) over the RSS after imports and set-up, '≤' when the high-water mark did "
        "not rise, i.e. an upper bound; base: that starting RSS; traced: tracemalloc peak of "
        "Python allocations during the generation, from a run of its own; LocalFileStore "
        "alone: the bytes of that many rows, encoded beforehand)"
    )
    print(f"\nload average after: {load_average()}")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": vars(args),
        "rounds": [[asdict(r) for r in rs] for rs in rounds],
        "tracemalloc": asdict(traced),
        "flat": [[asdict(p), None if t is None else asdict(t)] for p, t in flat],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, help="rows per export (default 1,000,000)")
    parser.add_argument(
        "--type",
        default=ExportType.TRANSACTION_EVENTS.value,
        choices=[t.value for t in ExportType],
        help="the export type",
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="ExportFileWriter's batch")
    parser.add_argument("--runs", type=int, help="rounds of the five modes (default 3)")
    parser.add_argument(
        "--flat-rows",
        help="sizes of the flatness check ('' to skip; default 100000,1000000,3000000)",
    )
    parser.add_argument(
        "--flat-max-seconds",
        type=float,
        default=90,
        help="skip a flatness size expected to take longer",
    )
    parser.add_argument("--dir", help="where files are written (default: the temp directory)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help=SMOKE)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    defaults = {
        "rows": 3000 if args.smoke else 1_000_000,
        "runs": 1 if args.smoke else 3,
        "flat_rows": "1000,3000" if args.smoke else "100000,1000000,3000000",
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.rows < 1 or args.batch_size < 1 or args.runs < 1:
        parser.error("--rows, --batch-size and --runs must be at least 1")
    if args.child:
        print(json.dumps(asyncio.run(child(args))))
        return
    try:
        payload = run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
