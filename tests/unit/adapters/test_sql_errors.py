"""What the drivers' errors mean, for both SQL packages: raw from asyncpg, wrapped by
SQLAlchemy (asyncpg's or SQLite's), at a statement or at commit."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from export_resend.adapters.sql.errors import port_error, reachable
from export_resend.domain.ports import ConcurrentUpdate, DuplicateId, StorageUnavailable


def _wrapped(error: Exception) -> sa.DBAPIError:
    """``error`` as SQLAlchemy's asyncpg dialect raises it."""
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)  # type: ignore[no-untyped-call]
    return sa.DBAPIError("SELECT 1", None, adapted)


def _sqlite(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code
    return error


CONFLICTS = [
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.SerializationError("could not serialize access"),
]


@pytest.mark.parametrize("raw", CONFLICTS, ids=["deadlock", "serialization"])
def test_a_deadlock_or_a_serialization_failure_is_a_concurrent_update(raw: Exception) -> None:
    for raised in (raw, _wrapped(raw)):
        assert isinstance(port_error(raised, lost=False), ConcurrentUpdate)


def test_sqlites_busy_is_a_concurrent_update_and_its_other_errors_are_its_own() -> None:
    busy = sa.OperationalError("INSERT", None, _sqlite(5))
    snapshot = sa.OperationalError("INSERT", None, _sqlite(5 | 2 << 8))  # SQLITE_BUSY_SNAPSHOT
    assert isinstance(port_error(busy, lost=False), ConcurrentUpdate)
    assert isinstance(port_error(snapshot, lost=False), ConcurrentUpdate)
    no_table = sa.OperationalError("SELECT", None, sqlite3.OperationalError("no such table"))
    assert port_error(no_table, lost=False) is None


def test_a_unique_or_foreign_key_violation_is_a_duplicate_id() -> None:
    unique = asyncpg.UniqueViolationError("duplicate key")
    assert isinstance(port_error(unique, lost=False), DuplicateId)
    wrapped = sa.IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE failed"))
    assert isinstance(port_error(wrapped, lost=False), DuplicateId)


def test_a_lost_connection_is_storage_unavailable_whatever_the_error_said() -> None:
    closed = asyncpg.InterfaceError("connection is closed")
    assert isinstance(port_error(closed, lost=True), StorageUnavailable)
    assert isinstance(port_error(CONFLICTS[0], lost=True), StorageUnavailable)


@pytest.mark.parametrize(
    "real",
    [
        asyncpg.UndefinedTableError("relation does not exist"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        ValueError("invalid input for query argument $1"),
    ],
)
def test_any_other_error_is_left_as_it_is(real: Exception) -> None:
    assert port_error(real, lost=False) is None
    assert port_error(_wrapped(real), lost=False) is None


@pytest.mark.parametrize(
    "unreachable",
    [
        ConnectionRefusedError("refused"),
        TimeoutError(),
        sa.TimeoutError("QueuePool limit of size 1 reached"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.InvalidCatalogNameError('database "x" does not exist'),
    ],
)
def test_a_connection_that_cannot_be_had_is_storage_unavailable(unreachable: Exception) -> None:
    with pytest.raises(StorageUnavailable), reachable():
        raise unreachable
