"""What the benchmarks share: the code under test (this checkout or another), child processes
that cannot outlive the benchmark, CPU clocks read from /proc, and medians with their range
over rounds that alternate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
"""This checkout: the working directory of every child, so that ``-m bench.…`` is ours."""
PACKAGES = (
    "uvicorn",
    "uvloop",
    "httptools",
    "h11",
    "starlette",
    "fastapi",
    "asyncpg",
    "sqlalchemy",
    "aiosqlite",
    "aiosmtplib",
    "aiosmtpd",
)
SMOKE = "smoke mode: tiny counts; checks that the benchmark runs and counts right, never speed"


# -- the code under test ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Code:
    """Which export_resend a child process runs: this checkout's (``ours``), or another
    checkout's (``base``) through ``PYTHONPATH`` and/or another interpreter. The benchmark's
    own modules (``bench.…``) always come from this checkout."""

    name: str
    python: str
    src: Path | None = None

    def env(self, extra: Mapping[str, str] = {}) -> dict[str, str]:
        """The environment of a child: ours without any ``EXPORT_RESEND_*`` setting (the
        benchmark's own, ``EXPORT_RESEND_BENCH_*``, stay), then ``extra``."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("EXPORT_RESEND_") or k.startswith("EXPORT_RESEND_BENCH_")
        }
        env.pop("PYTHONPATH", None)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)
        return {**env, **extra}

    def argv(self, *arguments: str) -> list[str]:
        return [self.python, *arguments]

    def expected_package(self) -> Path:
        return (self.src or ROOT / "src") / "export_resend"

    def checks_package(self) -> bool:
        """Whether :meth:`verify` can know where the package must come from (not with
        another interpreter alone: its own install decides)."""
        return self.src is not None or self.python == sys.executable

    async def verify(self) -> str:
        """Where this code's ``export_resend`` is imported from, and its commit; refuses a
        mix-up (``PYTHONPATH`` shadowed by an installed copy, say)."""
        probe = "import export_resend, pathlib; print(pathlib.Path(export_resend.__file__).parent)"
        process = await asyncio.create_subprocess_exec(
            *self.argv("-c", probe),
            env=self.env(),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode:
            raise SystemExit(f"{self.name}: {self.python} cannot import export_resend: {err!r}")
        return self.checked(out.decode().strip())

    def checked(self, found: str) -> str:
        """``found`` (where the package was imported from) if it is where it must be."""
        package = Path(found).resolve()
        if self.checks_package() and package != self.expected_package().resolve():
            raise SystemExit(
                f"{self.name}: export_resend comes from {package}, not {self.expected_package()}"
            )
        return f"{package} ({commit_of(package)})"


def commit_of(path: Path) -> str:
    """The git commit of the checkout holding ``path``, ``+dirty`` if it has changes."""
    try:
        head = subprocess.run(  # noqa: S603 (git, with a path of ours)
            ["git", "-C", str(path), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no", "."],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return head + ("+dirty" if dirty else "")


def codes(args: argparse.Namespace) -> dict[str, Code]:
    """``ours``, and ``base`` if ``--baseline-src`` or ``--baseline-python`` was given."""
    found = {"ours": Code("ours", sys.executable)}
    if args.baseline_src or args.baseline_python:
        src = Path(args.baseline_src).resolve() if args.baseline_src else None
        if src is not None and not (src / "export_resend").is_dir():
            raise SystemExit(f"--baseline-src {src}: no export_resend package there")
        found["base"] = Code("base", args.baseline_python or sys.executable, src)
    return found


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=SMOKE)
    parser.add_argument(
        "--baseline-src",
        help="another checkout's src/ directory: its export_resend runs as 'base' (PYTHONPATH)",
    )
    parser.add_argument(
        "--baseline-python",
        help="the interpreter for 'base' (another venv, if that checkout's dependencies differ)",
    )
    parser.add_argument("--server", help="SQLAlchemy URL of the PostgreSQL server")
    parser.add_argument("--json", help="also write the figures to this file")


# -- processes -------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the benchmark dies, however it dies (a
    benchmark killed with SIGKILL runs no cleanup of its own). Survives ``taskset``'s exec."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def pinned(cores: str | int | None, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cores``, or as it is if ``cores`` is None."""
    return list(argv) if cores is None else ["taskset", "-c", str(cores), *argv]


async def spawn(
    argv: Sequence[str],
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = None,
    stdout: int | None = None,
) -> asyncio.subprocess.Process:
    """A child in its own session (a terminal's Ctrl-C reaches the benchmark only, which
    stops it), killed if the benchmark dies; its output to ``log`` (appended)."""
    output = log.open("ab") if log is not None else None
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=stdout if stdout is not None else (output or asyncio.subprocess.DEVNULL),
            stderr=output or asyncio.subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    finally:
        if output is not None:
            output.close()


async def stop(process: asyncio.subprocess.Process, grace: float = 10) -> int:
    """SIGTERM to the child's process group, then SIGKILL after ``grace`` seconds; its exit
    status (negative: the signal that ended it)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    else:  # what it started may live on in its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode is not None
    return process.returncode


@contextlib.asynccontextmanager
async def child(
    argv: Sequence[str],
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    grace: float = 10,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """:func:`spawn`, stopped on exit (:func:`stop`), whatever happens."""
    process = await spawn(argv, log=log, env=env)
    try:
        yield process
    finally:
        await stop(process, grace)


async def run_to_end(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    within: float = 600,
) -> tuple[int, str]:
    """Run a child to its end: its exit status and stdout (stderr goes to ``log``). Killed
    after ``within`` seconds."""
    process = await spawn(argv, env=env, log=log, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), within)
    finally:
        await stop(process, 5)
    assert process.returncode is not None
    return process.returncode, out.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_listening(
    port: int, process: asyncio.subprocess.Process, log: Path | None, within: float = 60
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"server not listening on {port} after {within} s; see {log}")


@contextlib.asynccontextmanager
async def listening(
    command: Callable[[int], tuple[list[str], dict[str, str]]],
    log: Path,
    core: str | int | None = None,
    attempts: int = 3,
) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """A server on a free port, once it listens: ``command(port)`` gives its argv and
    environment. A port taken by someone else between its choice and the server's bind
    (the server exits at once, "address already in use") is tried again with another."""
    for attempt in range(attempts):
        port = free_port()
        argv, env = command(port)
        async with child(pinned(core, argv), log=log, env=env) as process:
            try:
                await wait_listening(port, process, log)
            except RuntimeError:
                in_use = "address already in use" in tail(log, 5).lower()
                if process.returncode is None or not in_use or attempt == attempts - 1:
                    raise
                continue
            yield port, process
            return


def tail(log: Path | None, lines: int = 20) -> str:
    """The end of a child's log, for an error message."""
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# -- CPU clocks ------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, text.rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (its threads included; 0 if gone)."""
    found = _stat(pid)
    return 0.0 if found is None else (int(found[1][11]) + int(found[1][12])) / _TICK


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of ``pid`` and of every live descendant (a server that forks
    workers is counted whole; children that have exited and been waited for are counted in
    their parent's cutime, which is left out: only live processes are compared)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat(entry.name)
            if found is not None:
                children.setdefault(int(found[1][1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_seconds(current)
        todo.extend(children.get(current, ()))
    return total


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
        stat = _stat(entry.name)
        if stat is None or stat[0] != "postgres":
            continue
        found = True
        command = _cmdline(entry.name)
        client = "(" in command or "[local]" in command
        if client and database is not None and f" {database} " not in command:
            continue
        ticks += int(stat[1][11]) + int(stat[1][12])
    return ticks / _TICK if found else None


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above ~0.5 someone else is busy)."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


# -- the machine -----------------------------------------------------------------------------


def _first(path: str, key: str) -> str:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.partition(":")[2].strip() or line.partition("=")[2].strip('"')
    return "?"


async def machine(postgres: URL | None = None) -> dict[str, str]:
    """What the figures were measured on: CPU, memory, OS, Python, the server stack, and the
    PostgreSQL server's version and durability settings."""
    described = {
        "cores": f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)",
        "cpu": _first("/proc/cpuinfo", "model name"),
        "memory": _first("/proc/meminfo", "MemTotal"),
        "os": _first("/etc/os-release", "PRETTY_NAME="),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(
            f"{name} {_version(name)}" for name in PACKAGES if _version(name) != "-"
        ),
    }
    if postgres is not None:
        # imported here: bench.generation's children import this module, and their baseline
        # RSS is a figure (asyncpg and the project's SQL adapters would add to it)
        import asyncpg  # noqa: PLC0415

        from bench.postgres import dsn  # noqa: PLC0415

        with contextlib.suppress(OSError, asyncpg.PostgresError):
            connection = await asyncpg.connect(dsn(postgres), timeout=10)
            try:
                settings = [
                    f"{name}={await connection.fetchval(f'SHOW {name}')}"
                    for name in ("fsync", "synchronous_commit", "shared_buffers", "autovacuum")
                ]
                version = await connection.fetchval("SHOW server_version")
                described["postgresql"] = f"{version} ({', '.join(settings)})"
            finally:
                await connection.close()
    return described


def _version(name: str) -> str:
    import importlib.metadata  # noqa: PLC0415 (see machine)

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def print_machine(described: Mapping[str, str]) -> None:
    for key, value in described.items():
        print(f"  {key:10} {value}")


# -- rounds ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of values over rounds, and their range."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(ordered), ordered[0], ordered[-1], len(ordered))

    def show(self, digits: int = 0, unit: str = "") -> str:
        """``median (low-high)``, or the one value if there was one round."""
        if self.n == 0:
            return "-"
        value = f"{self.median:,.{digits}f}{unit}"
        if self.n == 1:
            return value
        return f"{value} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def profile_failure(summary: str) -> str | None:
    """What went wrong with a profile, if py-spy broke (not when it may not attach here)."""
    if summary.startswith("py-spy failed") and "ermission" not in summary:
        return summary.splitlines()[0]
    return None


def interrupted_exit(what: str) -> NoReturn:
    print(f"interrupted: {what}", file=sys.stderr)
    sys.exit(130)
