"""The drivers' errors as the ports' errors: the one place that says what each one means, for
both SQL packages (through SQLAlchemy or straight from asyncpg, on SQLite or PostgreSQL)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa

from export_resend.domain.ports import ConcurrentUpdate, DuplicateId, StorageUnavailable

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, reset: raised as is by the drivers' connect
    TimeoutError,  # the server did not answer the connect in time
    sa.OperationalError,
    sa.InterfaceError,
    sa.TimeoutError,  # no pooled connection came free in time
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.CannotConnectNowError,
)
"""What getting a connection raises when the database cannot be reached."""

_CONFLICT = "40"
"""SQLSTATE class of a transaction the server rolled back: a deadlock (40P01), a
serialization failure (40001)."""
_SQLITE_BUSY = 5


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Raise ``StorageUnavailable`` for an error of ``UNREACHABLE`` inside the block: use it
    around getting a connection, never around statements (``port_error`` says theirs)."""
    try:
        yield
    except UNREACHABLE as exc:
        raise StorageUnavailable(_reason(exc)) from exc


def port_error(exc: BaseException, *, lost: bool) -> Exception | None:
    """The port's error that ``exc``, raised by a statement or a commit, stands for; ``None``
    for one the ports do not name (a real SQL error: raise it as it is).

    ``lost``: the driver has found the connection gone. What was not committed is gone with
    it; a commit cut off so may or may not have been made.
    """
    if lost:
        return StorageUnavailable(f"the connection was lost: {_reason(exc)}")
    cause = exc.orig if isinstance(exc, sa.DBAPIError) else exc
    if str(getattr(cause, "sqlstate", "")).startswith(_CONFLICT):
        return ConcurrentUpdate(str(cause))
    # SQLite refuses a write from a read snapshot that another writer has overtaken, or once
    # it has waited its whole busy timeout for the write lock
    busy = getattr(cause, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY
    if isinstance(cause, sqlite3.OperationalError) and busy:
        return ConcurrentUpdate(str(cause))
    if isinstance(exc, sa.IntegrityError | asyncpg.IntegrityConstraintViolationError):
        return DuplicateId(str(cause))
    return None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "orig", None) or exc
    return f"{type(reason).__name__}: {reason}"
