"""A throw-away PostgreSQL database for one benchmark run: created, migrated, dropped."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

from export_resend.adapters.sql import Database

SERVER_VARIABLE = "EXPORT_RESEND_BENCH_POSTGRES_URL"
TAG_VARIABLE = "EXPORT_RESEND_BENCH_DB_TAG"
"""Set by ``bench.smoke``: every database of its run is named with it, so that it can drop
what a killed benchmark left behind, and only that."""
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


def database_name(tag: str | None = None) -> str:
    """A new name, ``export_resend_bench_[<tag>_]<random>``; the tag defaults to
    ``$EXPORT_RESEND_BENCH_DB_TAG``."""
    tag = tag if tag is not None else os.environ.get(TAG_VARIABLE, "")
    if tag and not re.fullmatch(r"[a-z0-9_]{1,30}", tag):
        raise ValueError(f"database tag {tag!r}: lower-case letters, digits and _ only")
    return PREFIX + (f"{tag}_" if tag else "") + secrets.token_hex(6)


async def drop(server: URL, name: str) -> None:
    """Drop database ``name`` (only ours: the name must start with the bench prefix)."""
    if not name.startswith(PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def tagged(server: URL, tag: str) -> list[str]:
    """The benchmark databases named with ``tag``."""
    connection = await asyncpg.connect(dsn(server), timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", f"{PREFIX}{tag}_"
        )
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


@asynccontextmanager
async def empty_database(server: URL) -> AsyncIterator[URL]:
    """A new, empty database ``export_resend_bench_<random>``; dropped on exit, whatever
    happens (errors, Ctrl-C). Its schema is for the code under test to make: another
    checkout's migrations may differ from this one's."""
    name = database_name()
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name)
    finally:
        await drop(server, name)


@asynccontextmanager
async def fresh_database(server: URL) -> AsyncIterator[URL]:
    """A new database ``export_resend_bench_<random>`` at this checkout's head migration;
    dropped on exit, whatever happens (errors, Ctrl-C)."""
    async with empty_database(server) as url:
        database = Database(sqlalchemy_url(url))
        try:
            await database.upgrade()
        finally:
            await database.dispose()
        yield url
