"""Where a server's CPU goes: a summary of py-spy's collapsed stacks (``--format raw``)."""

from __future__ import annotations

import re
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
    ("pydantic", "pydantic"),
    ("email_validator", "email_validator"),
    ("dependency_injector", "dependency_injector"),
    ("greenlet", "greenlet"),
    ("asyncio", "asyncio"),
    ("json", "json"),
)
WATCHED = (
    "SqlAlchemyApiKeyStore.find_caller",
    "AuthenticateCaller.__call__",
    "ResendExportEmail.__call__",
    "SqlAlchemyUnitOfWork.__aenter__",
    "SqlAlchemyUnitOfWork.__aexit__",
    "SqlAlchemyUnitOfWork.commit",
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
    ("uvicorn", "HTTP (uvicorn, h11, starlette)"),
    ("h11", "HTTP (uvicorn, h11, starlette)"),
    ("starlette", "HTTP (uvicorn, h11, starlette)"),
    ("asyncio", "event loop and sockets, outside database calls"),
)


def _layer(frames: list[str]) -> str:
    """Database access if any frame is in a database package; else by the leaf's package."""
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
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_package[_package(frames[-1])] += count
        layers[_layer(frames)] += count
        self_function[f"{_function(frames[-1])}  [{_package(frames[-1])}]"] += count
        for name in set(map(_function, frames)).intersection(WATCHED):
            inclusive[name] += count
    if total == 0:
        return "no samples"
    lines = [f"{total} samples (CPU only)", "", "by layer:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in layers.most_common()]
    lines += ["", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in self_package.most_common()]
    lines += ["", f"self time, top {top} functions:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in self_function.most_common(top)]
    lines += ["", "inclusive time of the request path (work run inside SQLAlchemy's greenlets"]
    lines += ["appears without its caller: see the database layer above):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common()]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(summarise(Path(sys.argv[1])))
