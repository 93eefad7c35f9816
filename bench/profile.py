"""Where a server's CPU goes: a summary of py-spy's collapsed stacks (``--format raw``).

.venv/bin/python -m bench.profile /tmp/bench-profile/ours-pg.profile.txt
.venv/bin/python -m bench.profile --smoke    # the summary of known stacks, and py-spy live
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
PACKAGES = (
    ("export_resend", "export_resend (our code)"),
    ("sqlalchemy", "sqlalchemy"),
    ("asyncpg", "asyncpg"),
    ("aiosqlite", "aiosqlite"),
    ("sqlite3", "sqlite3"),
    ("starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("h11", "h11 (HTTP parser)"),
    ("httptools", "httptools"),
    ("uvloop", "uvloop"),
    ("fastapi", "fastapi"),
    ("structlog", "structlog"),
    ("logging", "logging (stdlib)"),
    ("prometheus_client", "prometheus_client"),
    ("aiosmtplib", "aiosmtplib"),
    ("jinja2", "jinja2"),
    ("markupsafe", "markupsafe"),
    ("email", "email (stdlib)"),
    ("pydantic", "pydantic"),
    ("email_validator", "email_validator"),
    ("dependency_injector", "dependency_injector"),
    ("greenlet", "greenlet"),
    ("asyncio", "asyncio"),
    ("json", "json"),
)
WATCHED = (
    "redact_text",
    "redact_secrets",
    "configure_logging",
    "RequestContext.__call__",
    "IdempotentRequests.begin",
    "AsyncpgUnitOfWork.__aenter__",
    "AsyncpgUnitOfWork.__aexit__",
    "AsyncpgUnitOfWork.commit",
    "_AsyncpgStatements._run",
    "SqlExportRepository.get",
    "SqlDeliveryRepository.add",
    "SqlDeliveryRepository.queued_since",
    "AsyncpgExportRepository.get",
    "AsyncpgDeliveryRepository.add",
    "AsyncpgDeliveryRepository.queued_since",
    "SqlAlchemyApiKeyStore.find_caller",
    "AuthenticateCaller.__call__",
    "ResendExportEmail.__call__",
    "SqlAlchemyUnitOfWork.__aenter__",
    "SqlAlchemyUnitOfWork.__aexit__",
    "SqlAlchemyUnitOfWork.commit",
    "_CoreStatements._run",
    "SqlAlchemyExportRepository.get",
    "SqlAlchemyDeliveryRepository.add",
    "export_from",
    "read_json_object",
    "BaseModel.model_validate",
    "BaseModel.model_dump_json",
    "ClauseElement._compile_w_cache",
    "Connection._execute_context",
    "AsyncAdapt_asyncpg_cursor._prepare_and_execute",
    "greenlet_spawn",
    "Peer.resend_email",
    "Peer._five_round_trips",
    "SendClaimedEmail.__call__",
    "ClaimDueEmails.__call__",
    "JinjaEmailComposer.compose",
    "SmtpMailer.send",
)


def _package(frame: str) -> str:
    match = FRAME.match(frame)
    path = match["file"] if match else frame
    for needle, name in PACKAGES:
        if f"/{needle}/" in path or path.startswith(f"{needle}/") or f"{needle}.py" in path:
            return name
    return "other (stdlib, C, interpreter)"


def _function(frame: str) -> str:
    match = FRAME.match(frame)
    return match["function"] if match else frame


DATABASE = ("sqlalchemy", "asyncpg", "greenlet", "aiosqlite", "sqlite3")
LEAF_LAYERS = (
    ("export_resend", "our code (domain, use case, HTTP adapter)"),
    ("pydantic", "validation and JSON (pydantic, email_validator, json)"),
    ("email_validator", "validation and JSON (pydantic, email_validator, json)"),
    ("json", "validation and JSON (pydantic, email_validator, json)"),
    ("uvicorn", "HTTP (uvicorn, h11/httptools, starlette)"),
    ("h11", "HTTP (uvicorn, h11/httptools, starlette)"),
    ("httptools", "HTTP (uvicorn, h11/httptools, starlette)"),
    ("starlette", "HTTP (uvicorn, h11/httptools, starlette)"),
    ("fastapi", "HTTP (uvicorn, h11/httptools, starlette)"),
    ("asyncio", "event loop and sockets, outside database calls"),
    ("uvloop", "event loop and sockets, outside database calls"),
    ("jinja2", "composing emails (jinja2, markupsafe, stdlib email)"),
    ("markupsafe", "composing emails (jinja2, markupsafe, stdlib email)"),
    ("email (stdlib)", "composing emails (jinja2, markupsafe, stdlib email)"),
    ("aiosmtplib", "SMTP (aiosmtplib)"),
)
WAITING = ("select", "EpollSelector.select", "PollSelector.select", "KqueueSelector.select")
"""Leaf functions where the event loop waits: py-spy counts them as busy when the process was
runnable but not yet running (a busy machine), so they are counted apart."""
LOGGING = ("structlog", "logging (stdlib)")


def _logging(frame: str) -> bool:
    return _package(frame).startswith(LOGGING) or "export_resend/logs.py" in frame


def _layer(frames: list[str]) -> str:
    """Logging if any frame logs; database access if any frame is in a database package;
    else by the leaf's package."""
    if any(_logging(frame) for frame in frames):
        return "logging (stdlib logging, structlog, export_resend.logs and redaction)"
    if any(_package(frame).startswith(DATABASE) for frame in frames):
        return "database access (SQLAlchemy/aiosqlite, asyncpg, greenlet, their socket I/O)"
    leaf = _package(frames[-1])
    return next((name for needle, name in LEAF_LAYERS if leaf.startswith(needle)), "other")


def summarise(raw: Path, top: int = 20) -> str:
    """Self time by package and by function, and inclusive time of the watched functions,
    as shares of all samples (py-spy leaves idle time out: 100 % is the CPU the server used)."""
    self_package: Counter[str] = Counter()
    self_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if _function(frames[-1]) in WAITING:
            waiting += count
            continue
        total += count
        self_package[_package(frames[-1])] += count
        layers[_layer(frames)] += count
        self_function[f"{_function(frames[-1])}  [{_package(frames[-1])}]"] += count
        for name in set(map(_function, frames)).intersection(WATCHED):
            inclusive[name] += count
    if total == 0:
        return "no samples"
    lines = [f"{total} samples (CPU only)"]
    if waiting:
        lines.append(
            f"({waiting} more samples in the event loop's select, left out: waiting, or "
            "runnable on a busy machine)"
        )
    lines += ["", "by layer:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in layers.most_common()]
    lines += ["", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in self_package.most_common()]
    lines += ["", f"self time, top {top} functions:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in self_function.most_common(top)]
    lines += ["", "inclusive time of the request path (work run inside SQLAlchemy's greenlets"]
    lines += ["appears without its caller: see the database layer above):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common()]
    return "\n".join(lines)


SMOKE_STACKS = "\n".join(
    (
        "main (uvicorn/main.py:1);run (asyncio/runners.py:1);handle (h11/_connection.py:1) 30",
        "main (uvicorn/main.py:1);app (starlette/routing.py:1);"
        "__call__ (export_resend/adapters/http/app.py:1) 20",
        "main (uvicorn/main.py:1);get (export_resend/adapters/sql/repositories.py:1);"
        "fetchrow (asyncpg/connection.py:1) 40",
        "main (uvicorn/main.py:1);dumps (json/encoder.py:1) 10",
    )
)


def smoke() -> list[str]:
    """The summary of known stacks adds up; py-spy, if it can attach here, records a busy
    Python process and its stacks are read."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="export_resend_bench_") as scratch:
        known = Path(scratch) / "known.txt"
        known.write_text(SMOKE_STACKS)
        text = summarise(known)
        print(text)
        wanted = ("100 samples", "40.0 %  database access", "40.0 %  asyncpg", "30.0 %  h11")
        failures += [f"summary of known stacks: no {w!r}" for w in wanted if w not in text]
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            return [*failures, "py-spy is not installed (the 'bench' extra)"]
        raw = Path(scratch) / "live.txt"
        busy = "import time\nend = time.time() + 3\nwhile time.time() < end: sum(range(1000))"
        argv = [spy, "record", "--rate", "200", "--duration", "1", "--format", "raw"]
        argv += ["--output", str(raw), "--", sys.executable, "-c", busy]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
        if done.returncode != 0 and "ermission" in done.stderr + done.stdout:
            print(f"py-spy cannot attach here, live check skipped: {done.stderr.strip()}")
        elif done.returncode != 0 or not raw.exists():
            failures.append(f"py-spy record failed ({done.returncode}): {done.stderr.strip()}")
        elif summarise(raw) == "no samples":
            failures.append("py-spy recorded no samples of a busy process")
        else:
            print(f"py-spy live: {summarise(raw).splitlines()[0]}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="?", help="a file of py-spy's collapsed stacks (raw)")
    parser.add_argument("--top", type=int, default=20, help="functions shown")
    parser.add_argument("--smoke", action="store_true", help="check the summary and py-spy")
    args = parser.parse_args()
    if args.smoke:
        failures = smoke()
        for failure in failures:
            print(f"FAILED: {failure}")
        sys.exit(1 if failures else 0)
    if not args.stacks:
        parser.error("give a file of stacks, or --smoke")
    print(summarise(Path(args.stacks), args.top))


if __name__ == "__main__":
    main()
