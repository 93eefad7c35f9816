"""The service for real, for a browser: ``export-resend``'s app under uvicorn on a free
loopback port, on a SQLite file seeded with the demo, sending its emails over SMTP to a
sink (``tests/smtp.py``); and Chromium from the distribution, driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from export_resend import ExportResend, Settings
from export_resend.adapters.demo import DemoData
from tests.smtp import SmtpServer

CHROMIUM_VARIABLE = "EXPORT_RESEND_TEST_CHROMIUM"
REQUIRE_VARIABLE = "EXPORT_RESEND_TEST_REQUIRE_BROWSER"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str | None:
    """The Chromium to drive: ``EXPORT_RESEND_TEST_CHROMIUM``, else the distribution's."""
    given = os.environ.get(CHROMIUM_VARIABLE)
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class RunningService:
    """The service, reachable at ``base_url``, and what the demo seeded in it."""

    base_url: str
    service: ExportResend
    demo: DemoData
    smtp: SmtpServer

    def key(self, user: str) -> str:
        return self.demo.user(user).api_key

    def export_id(self, name: str) -> str:
        return str(self.demo.export(name).export.id)


def _settings(directory: Path, port: int, smtp: SmtpServer, *, background: bool) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{directory / 'service.db'}",
        "files_url": f"file://{directory / 'files'}",
        "link_secret": "browser-test-link-secret-0123456789",
        "public_base_url": f"http://127.0.0.1:{port}",
        "mailer": "smtp",
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_tls": "none",
        "smtp_timeout": 5,
        "dispatch_poll_interval": 0.1,
        "expiry_sweep_interval": 3600,
        "demo_rows": 40,
        "serve_dispatcher": background,
        "api_key_cache_seconds": 0,
    }
    return Settings.model_validate(values)


def _seed(settings: Settings) -> DemoData:
    """Seed the demo, in a thread of its own (Playwright may be running a loop in this one)."""

    async def seed() -> DemoData:
        seeder = ExportResend(settings)
        async with seeder.running():
            data: DemoData = await seeder.container.seed_demo()()
        return data

    seeded: list[DemoData] = []
    thread = threading.Thread(target=lambda: seeded.append(asyncio.run(seed())))
    thread.start()
    thread.join()
    if not seeded:
        raise RuntimeError("the demo could not be seeded")
    return seeded[0]


@contextmanager
def running_service(directory: Path, smtp: SmtpServer) -> Iterator[RunningService]:
    """The service under uvicorn in a thread of its own, until the block ends."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        demo = _seed(_settings(directory, port, smtp, background=False))
        service = ExportResend(_settings(directory, port, smtp, background=True))
        # no log settings: uvicorn would set them on its loggers for the whole process
        config = uvicorn.Config(service.asgi, log_config=None, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        try:
            _wait_until_started(server, thread)
            yield RunningService(f"http://127.0.0.1:{port}", service, demo, smtp)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    for _ in range(400):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.05)
    if not server.started:
        raise RuntimeError("the service did not start")
