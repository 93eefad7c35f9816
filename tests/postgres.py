"""A PostgreSQL database of its own for this test run: created, migrated, dropped.

The server is ``EXPORT_RESEND_TEST_POSTGRES_URL`` (default: the local server, user postgres).
When it cannot be reached the tests that need it skip, saying why; with
``EXPORT_RESEND_REQUIRE_POSTGRES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from export_resend.adapters.sql import Database

T = TypeVar("T")

URL_VARIABLE = "EXPORT_RESEND_TEST_POSTGRES_URL"
REQUIRE_VARIABLE = "EXPORT_RESEND_REQUIRE_POSTGRES"
LOCAL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    # on a thread of its own: the fixture may be first asked for from inside a running loop
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(server: URL, sql: str) -> None:
    connection = await asyncpg.connect(_dsn(server), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _create(server: URL, name: str) -> str:
    await _admin(server, f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    try:
        await database.upgrade()
    except BaseException:
        await database.dispose()
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        raise
    await database.dispose()
    return url


def server_url() -> URL:
    """The server the tests use."""
    return make_url(os.environ.get(URL_VARIABLE) or LOCAL)


def unreachable(reason: Exception) -> None:
    """Skip, or fail when PostgreSQL is required, explaining how to change that."""
    message = (
        f"PostgreSQL is not reachable at {server_url().render_as_string()} ({reason!r}); "
        f"set {URL_VARIABLE} to a server where user may CREATE DATABASE"
    )
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{message}. {REQUIRE_VARIABLE}=1 makes this a failure.", pytrace=False)
    pytest.skip(f"{message}, or set {REQUIRE_VARIABLE}=1 to make this a failure.")


def fresh_database() -> Iterator[str]:
    """A uniquely named, migrated database for the whole run; dropped at the end."""
    server = server_url()
    name = f"export_resend_test_{uuid4().hex[:12]}"
    try:
        url = _run(_create(server, name))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unreachable(exc)
        raise  # unreachable() never returns
    try:
        yield url
    finally:
        _run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """An empty database of its own (nothing migrated), dropped on leaving."""
    server = server_url()
    name = f"export_resend_scratch_{uuid4().hex[:12]}"
    try:
        await _admin(server, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unreachable(exc)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def migrated_scratch_database(pool_size: int = 4) -> AsyncIterator[tuple[str, Database]]:
    """A migrated database of its own, so no other test's rows are there; its URL and an
    open ``Database`` on it, disposed of and dropped on leaving."""
    async with scratch_database() as url:
        database = Database(url, pool_size=pool_size)
        try:
            await database.upgrade()
            yield url, database
        finally:
            await database.dispose()


async def terminate_backends(url: str) -> None:
    """End every other client connection to ``url``'s database, as a restart of the server
    would, and wait until they are gone and their clients have seen it."""
    database = make_url(url).database
    admin = await asyncpg.connect(_dsn(server_url().set(database=database)), timeout=5)
    try:
        pids = await admin.fetch(
            "SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        gone = [row["pid"] for row in pids]
        for _ in range(100):
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = any($1::int[])", gone
            ):
                break
            await asyncio.sleep(0.02)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the clients read the end of their connections
