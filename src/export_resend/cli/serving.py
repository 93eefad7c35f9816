"""``export-resend serve`` and ``export-resend worker``: the service and its workers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from export_resend.cli.common import require_database, service, shown_url
from export_resend.cli.demo import demo_text
from export_resend.logs import configure_logging
from export_resend.main import create_operations_app
from export_resend.service import ExportResend
from export_resend.settings import Settings


def server_config(
    app: ASGIApp, settings: Settings, host: str, port: int, *, lifespan: bool = True
) -> uvicorn.Config:
    """How ``serve`` runs uvicorn: its lines through ``configure_logging``'s handler, and
    no access log of its own (it would print the query string: the download token)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on" if lifespan else "off",
        log_config=None,
        log_level=settings.log_level.value.lower(),
        access_log=False,
    )


async def serve(settings: Settings, args: argparse.Namespace) -> None:
    """The HTTP service, with its background work unless ``serve_dispatcher`` is off."""
    configure_logging(settings.log_format, settings.log_level)
    served = ExportResend(settings)
    server = uvicorn.Server(server_config(served.asgi, settings, args.host, args.port))
    if not args.demo:
        await server.serve()  # the app's lifespan runs the service
        return
    async with served.running():  # for the seed; the app's lifespan nests in it
        data = await served.container.seed_demo()()
        print(demo_text(data, settings.public_base_url), flush=True)
        await server.serve()


class _OperationsServer(uvicorn.Server):
    """uvicorn for a worker's operations routes: the worker, not uvicorn, handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def work(settings: Settings, args: argparse.Namespace) -> None:
    """The background work alone, until SIGTERM or SIGINT; with a port, its probes too."""
    require_database(settings, "a worker needs the database that serve uses")
    configure_logging(settings.log_format, settings.log_level)
    worker = service(settings, background=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    server = None
    if args.metrics_port is not None:
        app = create_operations_app(container=worker.container)
        # no lifespan: the service runs around the server
        config = server_config(app, settings, args.metrics_host, args.metrics_port, lifespan=False)
        server = _OperationsServer(config)
    async with worker.running():
        serving = None if server is None else asyncio.create_task(server.serve())
        logging.getLogger("export_resend.worker").info(
            "sending emails and generating exports from %s; SIGTERM or Ctrl-C stops",
            shown_url(settings, user=False),
        )
        await stopping.wait()
        if server is not None and serving is not None:
            server.should_exit = True
            await serving


def add_to(commands: Any) -> None:
    """The ``serve`` and ``worker`` commands."""
    served = commands.add_parser("serve", help="run the HTTP service with its dispatcher")
    served.add_argument("--host", default="127.0.0.1")
    served.add_argument("--port", type=int, default=8000)
    served.add_argument(
        "--demo", action="store_true", help="seed the demo data and print it (never in production)"
    )
    served.set_defaults(run=serve)
    worker = commands.add_parser(
        "worker",
        help="run a dispatcher and generator only, beside serve, on the same database",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="also serve /livez, /readyz and /metrics on this port (none by default)",
    )
    worker.add_argument("--metrics-host", default="127.0.0.1")
    worker.set_defaults(run=work)
