"""A small HTTP/1.1 load generator in Python: for smoke runs, counting, and queueing.

    python -m bench.loadgen --port 8101 --requests-file FILE --connections 8 --duration 2
    python -m bench.loadgen --port 8101 --requests-file FILE --connections 8 --total 500

Closed loop, like wrk: ``--connections`` keep-alive connections, each sending a request and
waiting for its answer before the next, each request drawn at random from the file's (or, with
``--total``, the file's requests in order, round-robin, exactly that many). Every request
sent is answered before it stops, so its counts are exact (wrk's last in-flight requests are
not counted). Prints one line ``BENCH-JSON {...}`` with the same fields as the wrk script of
``bench/throughput.py`` (requests, duration_us, connect, read, write, status = answers not
2xx, timeout, p50_us, p90_us, p99_us, max_us, mean_us), plus ``statuses``.

It is much slower than wrk (~1 ms of CPU per request): real runs use wrk; this serves the
smoke runs, where speed is not judged, and the benchmarks' own requests (counting round
trips, queueing deliveries).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""

    def raw(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Tally:
    latencies_us: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0


class _Closed(Exception):
    """The server closed the connection (after its answer, or before it)."""


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer: its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {lines[0]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") != "close"


class _Client:
    """One keep-alive connection: sends a request, waits for its answer, tallies it."""

    def __init__(self, host: str, port: int, tally: Tally, wait: float) -> None:
        self._address = host, port
        self._tally = tally
        self._wait = wait
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connected(self) -> bool:
        if self._writer is None:
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(*self._address), self._wait
                )
            except (OSError, TimeoutError):
                self._tally.connect += 1
                await asyncio.sleep(0.01)
                return False
        return True

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader, self._writer = None, None

    async def send(self, request: bytes) -> bool:
        """One request and its answer; False if it could not be sent or answered."""
        if not await self._connected():
            return False
        assert self._reader is not None
        assert self._writer is not None
        started = time.perf_counter_ns()
        try:
            self._writer.write(request)
            await self._writer.drain()
        except OSError:
            self._tally.write += 1
            self._drop()
            return False
        try:
            status, keep = await asyncio.wait_for(_answer(self._reader), self._wait)
        except TimeoutError:
            self._tally.timeout += 1
            self._drop()
            return False
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self._tally.read += 1
            self._drop()
            return False
        self._tally.latencies_us.append((time.perf_counter_ns() - started) // 1000)
        self._tally.statuses[status] += 1
        if not keep:
            self._drop()
        return True

    async def close(self) -> None:
        writer = self._writer
        self._drop()
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _for_a_while(client: _Client, requests: Sequence[bytes], until: float) -> None:
    rng = random.Random()  # noqa: S311 (load, not secrets)
    try:
        while time.monotonic() < until:
            await client.send(requests[rng.randrange(len(requests))])
    finally:
        await client.close()


async def _in_turn(
    client: _Client, requests: Sequence[bytes], claim: list[int], total: int
) -> None:
    """Requests in order, shared with the other connections, until ``total`` have been
    sent (one that fails is counted as an error, not sent again)."""
    try:
        while claim[0] < total:
            index = claim[0]
            claim[0] += 1
            await client.send(requests[index % len(requests)])
    finally:
        await client.close()


def _percentile(ordered: Sequence[int], p: float) -> int:
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def load(
    port: int,
    requests: Sequence[Request],
    *,
    connections: int,
    duration: float | None = None,
    total: int | None = None,
    host: str = "127.0.0.1",
    wait: float = 10,
) -> dict[str, Any]:
    """Load ``host:port`` for ``duration`` seconds, or with exactly ``total`` requests; the
    figures, as the wrk script of ``bench/throughput.py`` prints them. ``wait``: seconds
    an answer may take (then counted as a timeout)."""
    if (duration is None) == (total is None):
        raise ValueError("give a duration or a total")
    raw = [r.raw(f"{host}:{port}") for r in requests]
    tally = Tally()
    clients = [_Client(host, port, tally, wait) for _ in range(connections)]
    started = time.monotonic()
    if duration is not None:
        await asyncio.gather(*(_for_a_while(c, raw, started + duration) for c in clients))
    else:
        claim = [0]
        await asyncio.gather(*(_in_turn(c, raw, claim, total or 0) for c in clients))
    elapsed = time.monotonic() - started
    ordered = sorted(tally.latencies_us)
    not_2xx = sum(n for status, n in tally.statuses.items() if not 200 <= status < 300)
    return {
        "requests": len(ordered),
        "duration_us": int(elapsed * 1e6),
        "connect": tally.connect,
        "read": tally.read,
        "write": tally.write,
        "status": not_2xx,
        "timeout": tally.timeout,
        "p50_us": _percentile(ordered, 50),
        "p90_us": _percentile(ordered, 90),
        "p99_us": _percentile(ordered, 99),
        "max_us": ordered[-1] if ordered else 0,
        "mean_us": sum(ordered) / len(ordered) if ordered else 0.0,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
    }


def read_requests(path: Path) -> list[Request]:
    """Requests from a JSON file: a list of ``{"method", "path", "headers", "body"}``."""
    return [
        Request(r["method"], r["path"], r["headers"], r.get("body", "").encode())
        for r in json.loads(path.read_text())
    ]


def write_requests(path: Path, requests: Sequence[Request]) -> None:
    path.write_text(
        json.dumps(
            [
                {"method": r.method, "path": r.path, "headers": r.headers, "body": r.body.decode()}
                for r in requests
            ]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests-file", required=True, help="see read_requests")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, help="seconds of load")
    parser.add_argument("--total", type=int, help="exactly this many requests")
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()
    if (args.duration is None) == (args.total is None):
        parser.error("give --duration or --total")
    figures = asyncio.run(
        load(
            args.port,
            read_requests(Path(args.requests_file)),
            connections=args.connections,
            duration=args.duration,
            total=args.total,
            host=args.host,
            wait=args.timeout,
        )
    )
    print("BENCH-JSON " + json.dumps(figures), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
