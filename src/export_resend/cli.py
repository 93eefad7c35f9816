"""The ``export-resend`` command: ``serve``, ``worker``, ``demo``, ``db upgrade`` and ``keys``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from starlette.types import ASGIApp

from export_resend.adapters.sql import Database
from export_resend.application.create_api_key import CreateApiKeyCommand
from export_resend.application.revoke_api_key import ApiKeyNotFound
from export_resend.application.seed_demo import DemoData
from export_resend.container import Container, UnsupportedSetting, storage_kind
from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import ClientType
from export_resend.domain.ports import UserMismatch
from export_resend.logs import configure_logging
from export_resend.main import create_app, create_operations_app
from export_resend.settings import Settings


def demo_json(data: DemoData) -> dict[str, Any]:
    """The demo as one JSON object: users with their keys, exports with their ids."""
    return {
        "users": [
            {
                "name": u.name,
                "tenant": u.caller.tenant_id,
                "client": u.caller.client_type.value,
                "email": u.caller.email,
                "apiKey": u.api_key,
            }
            for u in data.users
        ],
        "exports": [
            {
                "id": str(e.export.id),
                "name": e.name,
                "tenant": e.export.tenant_id,
                "owner": e.owner,
                "type": e.export.type.value,
                "status": e.export.status.value,
                "cc": list(e.export.cc),
            }
            for e in data.exports
        ],
    }


def demo_text(data: DemoData, base_url: str) -> str:
    """The demo for people: keys, exports, and one curl command per outcome."""

    def curl(user: str, export: str, body: str | None = None) -> str:
        u, e = data.user(user), data.export(export)
        line = (
            f"curl -i -X POST {base_url}/v1/exports/{e.export.id}/resend-email "
            f"-H 'dj-client: {u.caller.client_type.value}' -H 'dj-api-key: {u.api_key}'"
        )
        return line if body is None else f"{line} -H 'content-type: application/json' -d '{body}'"

    lines = ["Demo users (API keys are public: demo only):"]
    lines += [
        f"  {u.name:<7}{u.caller.client_type.value:<9}{u.caller.tenant_id:<6} {u.api_key}"
        for u in data.users
    ]
    lines.append("Demo exports:")
    lines += [
        f"  {e.name:<16}{e.export.id}  {e.export.status.value:<8}{e.export.type.value}"
        for e in data.exports
    ]
    new_cc = '{"cc":["ceo@demo.example.com"]}'
    bad_cc = '{"cc":["Boss <boss@example.com>"]}'
    olivia = data.user("olivia")
    request = (
        f"curl -i -X POST {base_url}/v1/payments/funding-transfers/export "
        f"-H 'dj-client: OPERATOR' -H 'dj-api-key: {olivia.api_key}' "
        """-H 'content-type: application/json' -d '{"cc":["finance@demo.example.com"]}'"""
    )
    lines += [
        "Try:",
        f"  200 resend, new CC:    {curl('olivia', 'olivia-ready-cc', new_cc)}",
        f"  403 not the owner:     {curl('oscar', 'olivia-ready')}",
        f"  404 other tenant:      {curl('otto', 'olivia-ready')}",
        f"  409 not READY:         {curl('olivia', 'olivia-pending')}",
        f"  400 bad CC:            {curl('olivia', 'olivia-ready', bad_cc)}",
        "And a new export, generated and emailed within seconds:",
        f"  202 request an export: {request}",
    ]
    return "\n".join(lines)


async def _seed(container: Container) -> DemoData:
    await container.database_opened.init()  # type: ignore[misc]
    await container.files_opened.init()  # type: ignore[misc]
    return await container.seed_demo()()


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


async def _serve(settings: Settings, host: str, port: int, demo: bool) -> None:
    configure_logging(settings.log_format, settings.log_level)
    container = Container(settings=settings)
    app = create_app(container=container)
    await container.database_opened.init()  # type: ignore[misc]
    if demo:
        data = await _seed(container)
        print(demo_text(data, settings.public_base_url), flush=True)
    await uvicorn.Server(server_config(app, settings, host, port)).serve()


class _OperationsServer(uvicorn.Server):
    """uvicorn for a worker's operations routes: the worker, not uvicorn, handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _work(settings: Settings, metrics_host: str, metrics_port: int | None) -> None:
    if storage_kind(settings) != "sql":
        raise UnsupportedSetting(
            "a worker needs the database that serve uses: set EXPORT_RESEND_DATABASE_URL"
        )
    configure_logging(settings.log_format, settings.log_level)
    container = Container(settings=settings.model_copy(update={"serve_dispatcher": True}))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    server = None
    if metrics_port is not None:
        app = create_operations_app(container=container)
        # no lifespan: the container's resources are the worker's to start and stop
        config = server_config(app, settings, metrics_host, metrics_port, lifespan=False)
        server = _OperationsServer(config)
    try:
        await container.files_opened.init()  # type: ignore[misc]
        await container.dispatcher_running.init()  # type: ignore[misc]
        await container.generator_running.init()  # type: ignore[misc]
        serving = None if server is None else asyncio.create_task(server.serve())
        logging.getLogger("export_resend.worker").info(
            "sending emails and generating exports from %s; SIGTERM or Ctrl-C stops",
            _without_credentials(settings),
        )
        await stopping.wait()
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown


async def _demo(settings: Settings, as_json: bool) -> None:
    container = Container(settings=settings)
    try:
        data = await _seed(container)
    finally:
        stopping = container.shutdown_resources()
        if stopping is not None:  # None when no resource was started
            await stopping
    if as_json:
        print(json.dumps(demo_json(data), indent=2))
    else:
        print(demo_text(data, settings.public_base_url))


class Refused(Exception):
    """A ``keys`` command that cannot be done as asked; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


_OPTIONS = {"tenant_id": "--tenant", "user_id": "--user", "client_type": "--client"}


def _option(loc: tuple[int | str, ...]) -> str:
    return _OPTIONS.get(str(loc[0]), f"--{loc[0]}") + ": " if loc else ""


def key_command(args: argparse.Namespace) -> CreateApiKeyCommand:
    """The options of ``keys create`` as a command; ``Refused`` naming the bad options."""
    options = {
        "tenant_id": args.tenant,
        "user_id": args.user,
        "email": args.email,
        "client_type": args.client,
        "supplier_id": args.supplier,
    }
    try:
        return CreateApiKeyCommand.model_validate(options)
    except ValidationError as exc:
        problems = [f"{_option(e['loc'])}{e['msg']}" for e in exc.errors()]
        raise Refused("; ".join(problems), status=2) from None


def _moment(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def keys_json(records: Sequence[ApiKeyRecord]) -> list[dict[str, Any]]:
    """Key records as JSON objects (camelCase, ISO 8601 UTC times); never a key."""
    return [
        {
            "keyId": r.key_id,
            "tenant": r.caller.tenant_id,
            "user": r.caller.user_id,
            "email": r.caller.email,
            "client": r.caller.client_type.value,
            "supplier": r.caller.supplier_id,
            "createdAt": r.created_at.isoformat().replace("+00:00", "Z"),
            "lastUsedAt": r.last_used_at and r.last_used_at.isoformat().replace("+00:00", "Z"),
            "revokedAt": r.revoked_at and r.revoked_at.isoformat().replace("+00:00", "Z"),
        }
        for r in records
    ]


def keys_text(records: Sequence[ApiKeyRecord]) -> str:
    """Key records as a table, one key a line; keys made before key ids show ``(legacy)``."""
    rows = [("KEY ID", "TENANT", "USER", "EMAIL", "CLIENT", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (
            r.key_id or "(legacy)",
            r.caller.tenant_id,
            r.caller.user_id,
            r.caller.email,
            r.caller.client_type.value,
            _moment(r.created_at),
            _moment(r.last_used_at),
            _moment(r.revoked_at) if r.key_id else "refused: no checksum",
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def _keys(settings: Settings, args: argparse.Namespace) -> None:
    if storage_kind(settings) != "sql":
        raise UnsupportedSetting(
            "keys are kept in the database, and memory:// keeps nothing: "
            "set EXPORT_RESEND_DATABASE_URL"
        )
    command = key_command(args) if args.keys_command == "create" else None
    container = Container(settings=settings)
    try:
        await container.database_opened.init()  # type: ignore[misc]
        if command is not None:
            await _create_key(container, command)
        elif args.keys_command == "list":
            records = await container.list_api_keys()(args.tenant)
            print(json.dumps(keys_json(records), indent=2) if args.json else keys_text(records))
        else:
            try:
                record = await container.revoke_api_key()(args.key_id)
            except ApiKeyNotFound as exc:
                raise Refused(str(exc)) from None
            print(
                f"API key {record.key_id} of user {record.caller.user_id} of tenant "
                f"{record.caller.tenant_id} is revoked since {_moment(record.revoked_at)}"
            )
    finally:
        stopping = container.shutdown_resources()
        if stopping is not None:
            await stopping


async def _create_key(container: Container, command: CreateApiKeyCommand) -> None:
    try:
        issued = await container.create_api_key()(command)
    except UserMismatch:
        raise Refused(
            f"user {command.user_id} of tenant {command.tenant_id} exists with another email, "
            f"client type or supplier: 'export-resend keys list --tenant {command.tenant_id}' "
            "shows them"
        ) from None
    print(
        f"API key {issued.key.key_id} for {command.user_id} ({command.client_type.value}) "
        f"of tenant {command.tenant_id}. It will not be shown again (only its hash is kept): "
        "store it now.",
        file=sys.stderr,
        flush=True,
    )
    print(issued.key.text, flush=True)


async def _db_upgrade(settings: Settings) -> None:
    if storage_kind(settings) != "sql":
        raise UnsupportedSetting("there is no schema to upgrade in memory://")
    database = Database(settings.database_url)
    try:
        before = await database.revision()
        await database.upgrade()
        print(f"database schema: {before or 'empty'} -> {await database.revision()}")
    finally:
        await database.dispose()


def parser() -> argparse.ArgumentParser:
    """The command line."""
    root = argparse.ArgumentParser(prog="export-resend", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service with its dispatcher")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--demo", action="store_true", help="seed the demo data and print it (never in production)"
    )
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
    demo = commands.add_parser("demo", help="seed the demo data and print keys and curl commands")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead")
    db = commands.add_parser("db", help="the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the migrations to EXPORT_RESEND_DATABASE_URL")
    keys = commands.add_parser("keys", help="API keys in EXPORT_RESEND_DATABASE_URL")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser(
        "create", help="create a key (and its user, if new) and print it, once"
    )
    create.add_argument("--tenant", required=True)
    create.add_argument("--user", required=True)
    create.add_argument("--email", required=True, help="where the user's emails go")
    create.add_argument("--client", required=True, choices=[c.value for c in ClientType])
    create.add_argument("--supplier", help="the supplier id: required of a SUPPLIER")
    listing = keys_commands.add_parser("list", help="list the keys, never showing one")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="print a JSON array instead")
    revoke = keys_commands.add_parser("revoke", help="revoke a key: it stops working")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key id that 'keys list' shows")
    return root


def _readable(settings: Settings, *, user: bool) -> str:
    """The database URL for people: never its password, nor its query (asyncpg takes
    ``?password=`` too); its user only if ``user``."""
    try:
        url = make_url(settings.database_url)
    except (ValueError, ArgumentError):
        return "(unreadable URL)"
    # a password with an unencoded '@' ends at it for the parser, the rest taken for the host
    host = url.host.rpartition("@")[2] if url.host else None
    shown = URL.create(
        url.drivername,
        username=url.username if user else None,
        password=url.password if user else None,
        host=host,
        port=url.port,
        database=url.database,
    )
    return shown.render_as_string(hide_password=True)


def _without_credentials(settings: Settings) -> str:
    """The database URL without user or password, fit for a log line."""
    return _readable(settings, user=False)


def _shown(settings: Settings) -> str:
    return _readable(settings, user=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        settings = Settings()
        if args.command == "serve":
            asyncio.run(_serve(settings, args.host, args.port, args.demo))
        elif args.command == "worker":
            asyncio.run(_work(settings, args.metrics_host, args.metrics_port))
        elif args.command == "demo":
            asyncio.run(_demo(settings, args.json))
        elif args.command == "keys":
            asyncio.run(_keys(settings, args))
        else:
            asyncio.run(_db_upgrade(settings))
    except (UnsupportedSetting, ValidationError) as exc:
        print(f"export-resend: {exc}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"export-resend: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:  # the reader went away (| head): say nothing more to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = getattr(exc, "orig", None) or exc
        print(
            f"export-resend: the database {_shown(settings)} cannot be used: {reason}",
            file=sys.stderr,
        )
        return 2
    except (ValueError, OverflowError) as exc:  # a URL that cannot be used (port "x", 99999)
        print(f"export-resend: EXPORT_RESEND_DATABASE_URL cannot be read: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
