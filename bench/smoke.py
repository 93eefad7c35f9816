"""Every benchmark's smoke mode, in one command: do the benchmarks still run, and count right?

    .venv/bin/python -m bench.smoke              # all of them, ~1 min on 2 cores
    .venv/bin/python -m bench.smoke delivery     # some of them
    make bench-smoke                             # the same, as .ci/run runs it

Each benchmark runs with ``--smoke`` (a few seconds, tiny counts) in a process of its own,
with a time limit. A smoke fails when its benchmark exits non-zero (it broke, or a count did
not match: messages received against messages queued, deliveries committed against answers,
round trips against what the peers are built to send, rows written…), never on a speed.
One more, ``interrupt``, stops a delivery smoke with SIGTERM mid-run and expects it to clean
up after itself.

After each smoke, whatever happened, this checks that it left nothing behind: no process
(every child of a benchmark carries the run's tag in its environment, and is found by it),
no PostgreSQL database (benchmarks name theirs with the tag), no new file in the checkout.
Leftovers are removed, and counted as a failure. Exit status 0 if all passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT, die_with_parent
from bench.postgres import TAG_VARIABLE, drop, server_url, tagged

SMOKES = {
    "profile": ["bench.profile", "--smoke"],
    "generation": ["bench.generation", "--smoke"],
    "scale": ["bench.scale", "--smoke"],
    "delivery": ["bench.delivery", "--smoke"],
    "throughput": ["bench.throughput", "--smoke"],
    "interrupt": ["bench.delivery", "--smoke", "--runs", "ours-w1", "--round-trip-messages", "0"],
}
LIMIT = 180.0
"""Seconds a smoke may take before it is stopped (SIGTERM, then SIGKILL) and failed."""
INTERRUPT_AFTER = b"round 1/1"
"""The interrupt smoke is stopped once its benchmark prints this (database, sink and
queueing server up, the worker run starting)."""


@dataclass
class Outcome:
    name: str
    seconds: float
    status: int | None
    failures: list[str]
    log: Path


def _untracked() -> set[str]:
    """Files and directories in the checkout that git does not track, ignored ones too
    (directories collapsed: ``.venv/``)."""
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--directory", "--exclude-standard", "--ignored"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    also = subprocess.run(
        ["git", "ls-files", "--others", "--directory", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(listed.splitlines()) | set(also.splitlines())


def _tagged_processes(tag: str) -> list[int]:
    """Live processes whose environment carries ``tag``."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            environment = Path(f"/proc/{entry.name}/environ").read_bytes()
            if needle in environment.split(b"\0"):
                found.append(int(entry.name))
    return found


async def _stop_group(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def smoke(name: str, run_id: str, directory: Path, limit: float) -> Outcome:
    tag = f"smoke_{run_id}_{name}"
    env = {**os.environ, TAG_VARIABLE: tag, "PYTHONDONTWRITEBYTECODE": "1"}
    log = directory / f"{name}.log"
    failures: list[str] = []
    started = time.monotonic()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *SMOKES[name],
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        assert process.stdout is not None
        interrupted = False
        try:
            deadline = started + limit
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failures.append(f"still running after {limit:.0f} s: stopped")
                    break
                try:
                    line = await asyncio.wait_for(process.stdout.readline(), remaining)
                except TimeoutError:
                    continue
                if not line:
                    break
                output.write(line)
                output.flush()
                if name == "interrupt" and not interrupted and line.startswith(INTERRUPT_AFTER):
                    await asyncio.sleep(1.0)  # into the worker run
                    os.killpg(process.pid, signal.SIGTERM)
                    interrupted = True
        finally:
            await _stop_group(process)
    status = process.returncode
    if name == "interrupt":
        if not interrupted:
            failures.append("never reached the point where it is interrupted")
        elif status != 130:
            failures.append(f"exit status {status} after SIGTERM, 130 expected")
    elif status != 0:
        failures.append(f"exit status {status}")
    await asyncio.sleep(0.5)  # children killed with their parent are being reaped
    for pid in _tagged_processes(tag):
        failures.append(f"left process {pid}: {_cmdline(pid)}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server = server_url()
    for database in await tagged(server, tag):
        failures.append(f"left database {database}")
        await drop(server, database)
    return Outcome(name, time.monotonic() - started, status, failures, log)


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return "?"


async def main_async(names: list[str], jobs: int, limit: float, verbose: bool) -> int:
    run_id = secrets.token_hex(3)
    before = _untracked()
    started = time.monotonic()
    print(f"bench smoke {run_id}: {', '.join(names)} ({jobs} at a time)", flush=True)
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_smoke_") as scratch:
        directory = Path(scratch)
        slots = asyncio.Semaphore(jobs)

        async def one(name: str) -> Outcome:
            async with slots:
                outcome = await smoke(name, run_id, directory, limit)
            verdict = "ok" if not outcome.failures else "FAILED: " + "; ".join(outcome.failures)
            print(f"  {name:12} {outcome.seconds:5.1f} s  {verdict}", flush=True)
            return outcome

        outcomes = await asyncio.gather(*(one(name) for name in names))
        for outcome in outcomes:
            if outcome.failures or verbose:
                print(f"\n---- {outcome.name} (exit status {outcome.status}) ----")
                print(outcome.log.read_text(errors="replace").rstrip())
    new = sorted(_untracked() - before)
    failed = [o.name for o in outcomes if o.failures]
    if new:
        failed.append("files")
        print(f"\nFAILED: files left in the checkout: {', '.join(new)}")
    total = time.monotonic() - started
    print(f"\nbench smoke: {len(names) - len(failed)}/{len(names)} passed in {total:.1f} s")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help=f"from {', '.join(SMOKES)} (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="smokes at once (default 2)")
    parser.add_argument("--limit", type=float, default=LIMIT, help="seconds per smoke")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every smoke's output")
    args = parser.parse_args()
    unknown = set(args.names) - set(SMOKES)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}; from {', '.join(SMOKES)}")
    names = args.names or list(SMOKES)
    sys.exit(asyncio.run(main_async(names, max(1, args.jobs), args.limit, args.verbose)))


if __name__ == "__main__":
    main()
