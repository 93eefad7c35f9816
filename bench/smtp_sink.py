"""An SMTP sink for the delivery benchmark: accepts every message, keeps none, counts them.

Run as its own process (``python -m bench.smtp_sink``), so that its CPU is its own and can be
pinned apart from the senders. Two implementations of the same dialogue (EHLO with
8BITMIME, MAIL, RCPT, DATA, RSET, NOOP, QUIT: every command answered 250/354/221):

- ``minimal``: an ``asyncio.Protocol`` of ~60 lines that reads commands and looks for the
  end of DATA; the cheapest server a client can talk to, so that the client's cost shows.
- ``aiosmtpd``: aiosmtpd's ``SMTP`` protocol with a handler that counts and returns
  ``250 OK`` (what tests/smtp.py runs, without recording anything).

It prints ``READY <port>`` once listening, then answers on stdout to commands read from
stdin: ``stat`` -> ``STAT <messages> <bytes> <first> <last>`` (``time.monotonic()`` at the
end of the first and the last message's DATA, ``-1`` before any; CLOCK_MONOTONIC is
system-wide on Linux, so the caller can compare them with its own clock) and ``reset`` ->
``OK`` (counters back to zero). It exits when stdin closes, so it never outlives the
benchmark that started it.

    .venv/bin/python -m bench.smtp_sink --impl minimal --port 2525
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

IMPLEMENTATIONS = ("minimal", "aiosmtpd")


@dataclass
class Stats:
    """What the sink has accepted since the last reset."""

    messages: int = 0
    bytes: int = 0
    first: float = -1.0
    last: float = -1.0

    def message(self, size: int) -> None:
        now = time.monotonic()
        if self.messages == 0:
            self.first = now
        self.last = now
        self.messages += 1
        self.bytes += size

    def line(self) -> str:
        return f"STAT {self.messages} {self.bytes} {self.first!r} {self.last!r}"


_END_OF_DATA = b"\r\n.\r\n"
_EHLO = b"250-sink\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
_REPLIES = {
    b"HELO": b"250 sink\r\n",
    b"MAIL": b"250 OK\r\n",
    b"RCPT": b"250 OK\r\n",
    b"RSET": b"250 OK\r\n",
    b"NOOP": b"250 OK\r\n",
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
}


class MinimalSink(asyncio.Protocol):
    """One connection: commands line by line; in DATA, everything up to CRLF.CRLF."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._buffer = bytearray()
        self._in_data = False
        self._searched = 0  # DATA bytes already searched for the end marker
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer
        buffer += data
        while buffer:
            if self._in_data:
                if buffer.startswith(b".\r\n"):  # an empty message
                    end, size = 0, 0
                else:
                    end = buffer.find(_END_OF_DATA, max(0, self._searched - 4))
                    if end < 0:
                        self._searched = len(buffer)
                        return
                    size = end + 2
                del buffer[: size + 3]
                self._in_data, self._searched = False, 0
                self._stats.message(size)
                self._transport.write(b"250 OK\r\n")
                continue
            newline = buffer.find(b"\r\n")
            if newline < 0:
                return
            verb = bytes(buffer[:4]).upper()
            del buffer[: newline + 2]
            if verb == b"EHLO":
                self._transport.write(_EHLO)
            elif verb == b"QUIT":
                self._transport.write(b"221 Bye\r\n")
                self._transport.close()
                return
            else:
                self._transport.write(_REPLIES.get(verb, b"500 unknown command\r\n"))
                self._in_data = verb == b"DATA"


class _CountingHandler:
    """aiosmtpd's DATA hook: count, keep nothing."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self._stats.message(len(envelope.original_content or b""))
        return "250 OK"


async def _control(stats: Stats) -> None:
    """Answer ``stat`` and ``reset`` from stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = line.strip().decode()
        if command == "stat":
            print(stats.line(), flush=True)
        elif command == "reset":
            stats.messages, stats.bytes, stats.first, stats.last = 0, 0, -1.0, -1.0
            print("OK", flush=True)
        else:
            print(f"ERROR unknown command {command!r}", flush=True)


async def serve(implementation: str, host: str, port: int) -> None:
    """Listen, say ``READY <port>``, serve until stdin closes or SIGTERM."""
    loop = asyncio.get_running_loop()
    stats = Stats()
    if implementation == "minimal":
        server = await loop.create_server(lambda: MinimalSink(stats), host, port)
    else:
        handler = _CountingHandler(stats)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink", enable_SMTPUTF8=True, loop=loop), host, port
        )
    control = asyncio.create_task(_control(stats))
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, control.cancel)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    try:
        await control
    except asyncio.CancelledError:
        pass
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, default="minimal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    asyncio.run(serve(args.impl, args.host, args.port))


if __name__ == "__main__":
    main()
