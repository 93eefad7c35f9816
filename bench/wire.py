"""A counting proxy in front of PostgreSQL: how many round trips does a request cost, and which?

It forwards bytes both ways unchanged and reads the client's side of the wire protocol (v3,
no TLS): every ``Sync`` (extended protocol) or ``Query`` (simple protocol) is one round trip,
labelled with the SQL it ran (``prepare …`` when the batch parsed a statement). Works for any
client (SQLAlchemy, asyncpg) without touching it and without ``pg_stat_statements``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections import Counter

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def _cstrings(body: bytes, count: int) -> list[str]:
    return [part.decode(errors="replace") for part in body.split(b"\0", count)[:count]]


def _short(sql: str, width: int = 110) -> str:
    flat = re.sub(r"\s+", " ", sql).strip()
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class WireCounter:
    """Listens on 127.0.0.1 and forwards to ``upstream``; counts round trips by label."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.round_trips: Counter[str] = Counter()
        self.connections = 0

    def reset(self) -> None:
        self.round_trips.clear()
        self.connections = 0

    async def start(self) -> int:
        """Start listening; returns the port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream, to_upstream = await asyncio.open_connection(*self._upstream)
        self.connections += 1
        pumps = [
            asyncio.create_task(self._from_client(client, to_upstream)),
            asyncio.create_task(_pipe(upstream, to_client)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (to_client, to_upstream):
                writer.close()
            self._tasks.discard(task)

    async def _from_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:  # untyped start-up messages; the server refuses SSL/GSS with "N"
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                writer.write(head + await reader.readexactly(length - 8))
                await writer.drain()
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    break
            statements: dict[str, str] = {}
            batch: list[str] = []
            while True:
                head = await reader.readexactly(5)
                kind = head[:1]
                (length,) = struct.unpack("!i", head[1:])
                body = await reader.readexactly(length - 4)
                writer.write(head + body)
                if kind == b"P":
                    name, query = _cstrings(body, 2)
                    statements[name] = query
                    batch.append("prepare " + _short(query))
                elif kind == b"B":
                    _portal, name = _cstrings(body, 2)
                    batch.append(_short(statements.get(name, "?")))
                elif kind == b"Q":
                    self.round_trips[_short(_cstrings(body, 1)[0])] += 1
                elif kind in (b"S", b"H"):
                    self.round_trips[" + ".join(dict.fromkeys(batch)) or "sync"] += 1
                    batch.clear()
                if kind in (b"Q", b"S", b"H", b"X"):
                    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
