"""Our service for the throughput benchmark: ``create_app`` with sending switched off.

    .venv/bin/python -m bench.service --database-url URL --port 8101

The container is the real one, with one override: the dispatcher is a ``DiscardingNotifier``,
so the server answers resends exactly as in production but never sends (nor keeps) an email.
It measures the endpoint: authenticate, validate, one transaction that commits the delivery to
the outbox. Sending is the workers' job and is not part of it.

``--pool-size`` sets ``EXPORT_RESEND_DATABASE_POOL_SIZE``; everything else is the default
configuration.
"""

from __future__ import annotations

import argparse

from dependency_injector import providers
from pydantic import SecretStr
from starlette.applications import Starlette

from bench.notifier import DiscardingNotifier
from bench.server import serve
from export_resend.container import Container
from export_resend.main import create_app
from export_resend.settings import Settings

LINK_SECRET = "bench-only, no link is ever made"  # noqa: S105


def build(database_url: str, pool_size: int | None = None) -> Starlette:
    """The application, wired by the container, on ``database_url``."""
    settings = Settings(database_url=database_url, link_secret=SecretStr(LINK_SECRET))
    if pool_size is not None:
        settings = settings.model_copy(update={"database_pool_size": pool_size})
    container = Container(settings=settings)
    container.dispatcher.override(providers.Object(DiscardingNotifier()))
    return create_app(container=container)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve export_resend for a benchmark.")
    parser.add_argument("--database-url", required=True, help="the EXPORT_RESEND_DATABASE_URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, help="EXPORT_RESEND_DATABASE_POOL_SIZE")
    args = parser.parse_args()
    serve(build(args.database_url, args.pool_size), args.port)


if __name__ == "__main__":
    main()
