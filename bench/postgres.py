"""A throw-away PostgreSQL database for one benchmark run: created, migrated, dropped."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

from export_resend.adapters.sql import Database

SERVER_VARIABLE = "EXPORT_RESEND_BENCH_POSTGRES_URL"
LOCAL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PREFIX = "export_resend_bench_"


def server_url(given: str | None = None) -> URL:
    """The server to use: ``given``, else ``$EXPORT_RESEND_BENCH_POSTGRES_URL``, else local."""
    return make_url(given or os.environ.get(SERVER_VARIABLE) or LOCAL)


def dsn(url: URL) -> str:
    """``url`` as asyncpg wants it (no ``+asyncpg``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: URL) -> str:
    """``url`` as the project's settings want it."""
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _admin(server: URL, sql: str) -> None:
    connection = await asyncpg.connect(dsn(server), timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def drop(server: URL, name: str) -> None:
    """Drop database ``name`` (only ours: the name must start with the bench prefix)."""
    if not name.startswith(PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_database(server: URL) -> AsyncIterator[URL]:
    """A new database ``export_resend_bench_<random>`` at the head migration; dropped on exit,
    whatever happens (errors, Ctrl-C)."""
    name = PREFIX + secrets.token_hex(6)
    await _admin(server, f'CREATE DATABASE "{name}"')
    url = server.set(database=name)
    try:
        database = Database(sqlalchemy_url(url))
        try:
            await database.upgrade()
        finally:
            await database.dispose()
        yield url
    finally:
        await drop(server, name)
