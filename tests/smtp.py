"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), with pytest fixtures.

The server runs its own event loop in a thread of its own, so async tests, sync tests and
other OS processes can all send to it. It records every message it accepts, and can be
told to refuse addresses, drop a connection after DATA, answer slowly, require STARTTLS or
speak implicit TLS (with a trustme certificate), and require AUTH.

    def test_something(smtp_server: SmtpServer) -> None:
        ...  # send to smtp_server.host, smtp_server.port
        [received] = smtp_server.wait_for(1, timeout=5)

Registered for every test by ``pytest_plugins = ["tests.smtp"]`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from export_resend.testing.mailer_contract import Received

USERNAME = "relay-user"
PASSWORD = "relay-password-do-not-print"

ServerTls = Literal["none", "starttls", "tls"]


@dataclass(eq=False)
class SmtpServer:
    """One SMTP server; ``start()`` it, ``stop()`` it, ``start()`` it again on the same port.

    ``tls``: ``"none"`` offers no STARTTLS; ``"starttls"`` offers it and refuses mail until
    it is used; ``"tls"`` is implicit TLS. Certificates come from ``ca`` (trustme), issued
    for ``127.0.0.1`` and ``localhost``: see ``client_context()`` and ``write_ca()``.
    With ``auth``, MAIL FROM is refused (530) until AUTH succeeds with ``USERNAME`` and
    ``PASSWORD``; AUTH (PLAIN, LOGIN) is offered in the clear unless ``tls="starttls"``.
    Without ``eight_bit`` the server does not offer 8BITMIME.

    The knobs below may be changed at any time, from any thread:
    ``refuse`` maps a lower-case RCPT address to the ``(code, text)`` to answer instead of
    250. ``refuse_sender`` and ``refuse_data`` answer MAIL FROM, or the end of DATA (the
    message is then not recorded), with ``(code, text)`` instead of 250. The next
    ``drop_after_data`` messages are read whole and recorded, then the connection is closed
    without a reply. ``delay`` is how long to wait before answering the end of DATA; the
    message is recorded when the wait is over, and not at all if the client hung up.

    ``received`` (parsed with ``email.policy.default``) and ``data`` (the bytes as sent,
    after dot-unstuffing) are in arrival order; a message is recorded before the server
    replies 250. ``connections`` counts the connections accepted since creation.
    """

    tls: ServerTls = "none"
    auth: bool = False
    eight_bit: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)
    refuse_sender: tuple[int, str] | None = None
    refuse_data: tuple[int, str] | None = None
    drop_after_data: int = 0
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    connections: int = 0
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._sessions: set[_Session] = set()
        self._error: BaseException | None = None
        self._handler = _Handler(self)
        self._server_context: ssl.SSLContext | None = None
        if self.tls != "none":
            self._server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._server_context)

    def start(self) -> None:
        """Listen (on the port of the previous run, if any) and return once listening."""
        if self._thread is not None:
            raise RuntimeError("the SMTP server is already running")
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the SMTP server did not start: {self._error}")

    def stop(self) -> None:
        """Close every connection at once (as a crashed server would) and stop listening."""
        if self._thread is None:
            return
        assert self._loop is not None
        assert self._stopping is not None
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` messages have arrived; all received so far, in order."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(
                    f"{len(self.received)} of {count} messages arrived within {timeout} s"
                )
            return list(self.received)

    async def wait_for_async(self, count: int, within: float = 10.0) -> list[Received]:
        """``wait_for`` for a test whose own event loop must keep running meanwhile."""
        return await asyncio.to_thread(self.wait_for, count, within)

    def message_ids(self) -> list[str]:
        """The Message-ID of every message received, in order."""
        return [str(r.message["Message-ID"]) for r in list(self.received)]

    def client_context(self) -> ssl.SSLContext:
        """A client ``SSLContext`` that trusts this server's certificate (and nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the host name too
        self.ca.configure_trust(context)
        return context

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate as PEM to ``path`` (for ``SSL_CERT_FILE`` in a subprocess)."""
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def _run(self, started: threading.Event) -> None:
        self._error = None
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            started.set()

    async def _serve(self, started: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await loop.create_server(
            lambda: _Session(self, loop),
            self.host,
            self.port,
            ssl=self._server_context if self.tls == "tls" else None,
            reuse_address=True,
        )
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for session in list(self._sessions):
                session.abort()
            await server.wait_closed()
            await asyncio.sleep(0)
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _record(self, envelope: Envelope) -> None:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        received = Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), message)
        with self._lock:
            self.received.append(received)
            self.data.append(raw)
            self._lock.notify_all()

    def _drops_this_one(self) -> bool:
        with self._lock:
            if self.drop_after_data <= 0:
                return False
            self.drop_after_data -= 1
            return True

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        valid = isinstance(data, LoginPassword) and data == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=valid, handled=False)  # aiosmtpd replies 535 when refused


class _Session(SMTP):
    """One connection: aiosmtpd's protocol, counted and tracked so that stop() can close it."""

    def __init__(self, owner: SmtpServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            owner._handler,
            hostname="localhost",
            loop=loop,
            enable_SMTPUTF8=True,
            decode_data=not owner.eight_bit,  # aiosmtpd offers 8BITMIME only for raw data
            tls_context=owner._server_context if owner.tls == "starttls" else None,
            require_starttls=owner.tls == "starttls",
            authenticator=owner._authenticate if owner.auth else None,
            auth_require_tls=owner.tls == "starttls",
        )
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the second call, after STARTTLS
            self._owner._sessions.add(self)
            with self._owner._lock:
                self._owner.connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._sessions.discard(self)
        super().connection_lost(error)

    def abort(self) -> None:
        for transport in (self.transport, self._original_transport):
            if transport is not None:
                transport.abort()  # type: ignore[attr-defined]


class _Handler:
    """aiosmtpd's hooks, answering as the owning server's knobs say."""

    def __init__(self, owner: SmtpServer) -> None:
        self._owner = owner

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._owner.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self._owner.refuse_sender is not None:
            return "{} {}".format(*self._owner.refuse_sender)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self._owner.refuse.get(address.lower())
        if refusal is not None:
            return "{} {}".format(*refusal)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self._owner.delay > 0:
            await asyncio.sleep(self._owner.delay)
        if self._owner.refuse_data is not None:
            return "{} {}".format(*self._owner.refuse_data)
        self._owner._record(envelope)
        if self._owner._drops_this_one():
            assert server.transport is not None
            server.transport.close()
            await asyncio.Event().wait()  # cancelled when the connection is lost
        return "250 OK"


def _running(server: SmtpServer) -> Iterator[SmtpServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no STARTTLS, no AUTH), running."""
    yield from _running(SmtpServer())


@pytest.fixture
def starttls_server() -> Iterator[SmtpServer]:
    """An SMTP server that refuses mail until STARTTLS (trustme certificate), running."""
    yield from _running(SmtpServer(tls="starttls"))


@pytest.fixture
def tls_server() -> Iterator[SmtpServer]:
    """An implicit-TLS SMTP server (trustme certificate), running."""
    yield from _running(SmtpServer(tls="tls"))


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    """A plain SMTP server that refuses mail until AUTH with USERNAME and PASSWORD, running."""
    yield from _running(SmtpServer(auth=True))
