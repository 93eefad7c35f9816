"""Every statement of the repositories, in SQLAlchemy Core, built once from ``schema.py``.

The SQLAlchemy package executes them as they are; the asyncpg package compiles each once for
PostgreSQL and sends that SQL to the driver. Parameters are named ``bindparam``s; constants
(statuses) are written into the SQL itself, as the partial index of due deliveries says them,
so that the planner can use it with any parameter.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Delete,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)

from export_resend.adapters.sql.schema import (
    deliveries,
    exports,
    generation_jobs,
    idempotency_keys,
)
from export_resend.domain.delivery import DeliveryStatus
from export_resend.domain.export import ExportStatus

_WORD = re.compile(r"[A-Z_]+")

AnySelect = Select[*tuple[Any, ...]]


def constant(value: str) -> ColumnElement[str]:
    """``value`` (an enum's, upper case and underscores only) as an SQL string literal."""
    if not _WORD.fullmatch(value):
        raise ValueError(f"not a constant: {value!r}")
    return literal_column(f"'{value}'")


_READY = exports.c.status == constant(ExportStatus.READY)


def effective_status_is(status: ExportStatus) -> ColumnElement[bool]:
    """``Export.effective_status(now) is status``, in SQL, at the parameter ``now``: READY
    from ``expires_at`` on is EXPIRED."""
    if status is ExportStatus.READY:
        return and_(_READY, exports.c.expires_at > bindparam("now"))
    if status is ExportStatus.EXPIRED:
        return or_(
            exports.c.status == constant(ExportStatus.EXPIRED),
            and_(_READY, exports.c.expires_at <= bindparam("now")),
        )
    return exports.c.status == constant(status)


# exports: parameters match_id, match_version, now, limit, offset, tenant_id, owner_id, type
EXPORT = select(exports).where(exports.c.id == bindparam("match_id"))
EXPORT_LOCKED = EXPORT.with_for_update()
EXPORT_EXISTS = select(exports.c.id).where(exports.c.id == bindparam("match_id"))
ADD_EXPORT = exports.insert()
UPDATE_EXPORT = exports.update().where(
    exports.c.id == bindparam("match_id"), exports.c.version == bindparam("match_version")
)
EXPIRED_EXPORTS = (
    select(exports)
    .where(_READY, exports.c.expires_at <= bindparam("now"))
    .order_by(exports.c.expires_at, exports.c.id)
    .limit(bindparam("limit"))
)


@functools.cache
def export_page(by_type: bool, status: ExportStatus | None) -> tuple[AnySelect, AnySelect]:
    """One page of one owner's exports, newest first, and the count of all matches: made once
    for each filter there may be."""
    conditions = [
        exports.c.tenant_id == bindparam("tenant_id"),
        exports.c.owner_id == bindparam("owner_id"),
    ]
    if by_type:
        conditions.append(exports.c.type == bindparam("type"))
    if status is not None:
        conditions.append(effective_status_is(status))
    page = (
        select(exports)
        .where(*conditions)
        .order_by(exports.c.requested_at.desc(), exports.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    count = select(func.count().label("total")).select_from(exports).where(*conditions)
    return page, count


def _due(table: Table, key: Column[Any], *columns: ColumnElement[Any] | Table) -> AnySelect:
    """The rows of ``table`` a claim takes: those due at ``now``, earliest first (ties by
    ``key``), at most ``limit``, skipping any that another transaction has locked. SQLite has
    no row locks and ignores that: its claim holds the database's write lock instead."""
    return (
        select(*columns)
        .where(table.c.next_attempt_at <= bindparam("now"))
        .order_by(table.c.next_attempt_at, key)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


def _claims(
    table: Table, key: Column[Any], lease: dict[str, Any], *due_if: ColumnElement[bool]
) -> tuple[AnySelect, Update, Update]:
    """A claim as two statements (the due rows, then their lease by ``ids``), and as one for
    PostgreSQL: lease the due rows and return them with when each was due (``was_due``)."""
    due = _due(table, key, table).where(*due_if)
    lease_found = table.update().where(key.in_(bindparam("ids", expanding=True))).values(lease)
    found = _due(table, key, key, table.c.next_attempt_at.label("was_due")).where(*due_if)
    found_cte = found.cte("due")
    in_one = (
        table.update()
        .where(key == found_cte.c[key.name])
        .values(lease)
        .returning(*table.c, found_cte.c.was_due)
    )
    return due, lease_found, in_one


def _backlog(table: Table, *waiting: ColumnElement[bool]) -> AnySelect:
    """How many rows wait, how many of them are due at ``now``, and the oldest ``queued_at``."""
    due = case((table.c.next_attempt_at <= bindparam("now"), literal_column("1")))
    return select(
        func.count().label("waiting"),
        func.count(due).label("due"),
        func.min(table.c.queued_at).label("oldest"),
    ).where(*waiting)


# deliveries: parameters match_id, kind, since, now, limit, lease_end, lease_id, ids
WAITING = deliveries.c.status.in_(
    [constant(DeliveryStatus.QUEUED), constant(DeliveryStatus.SENDING)]
)
DELIVERY = select(deliveries).where(deliveries.c.id == bindparam("match_id"))
DELIVERY_LOCKED = DELIVERY.with_for_update()
ADD_DELIVERY = deliveries.insert()
UPDATE_DELIVERY = deliveries.update().where(deliveries.c.id == bindparam("match_id"))
DELIVERIES_OF_EXPORT = (
    select(deliveries)
    .where(deliveries.c.export_id == bindparam("match_id"))
    .order_by(deliveries.c.queued_at, deliveries.c.id)
)
QUEUED_SINCE = (
    select(deliveries.c.queued_at)
    .where(
        deliveries.c.export_id == bindparam("match_id"),
        deliveries.c.kind == bindparam("kind"),
        deliveries.c.queued_at > bindparam("since"),
    )
    .order_by(deliveries.c.queued_at)
)
DUE_DELIVERIES, LEASE_DELIVERIES, CLAIM_DELIVERIES = _claims(
    deliveries,
    deliveries.c.id,
    {
        "status": constant(DeliveryStatus.SENDING),
        "next_attempt_at": bindparam("lease_end"),
        "lease_id": bindparam("lease_id"),
    },
    WAITING,
)
DELIVERY_BACKLOG = _backlog(deliveries, WAITING)

# generation jobs: parameters match_id, now, limit, lease_end, lease_id, ids
JOB = select(generation_jobs).where(generation_jobs.c.export_id == bindparam("match_id"))
JOB_LOCKED = JOB.with_for_update()
ADD_JOB = generation_jobs.insert()
UPDATE_JOB = generation_jobs.update().where(generation_jobs.c.export_id == bindparam("match_id"))
REMOVE_JOB = generation_jobs.delete().where(generation_jobs.c.export_id == bindparam("match_id"))
DUE_JOBS, LEASE_JOBS, CLAIM_JOBS = _claims(
    generation_jobs,
    generation_jobs.c.export_id,
    {
        "next_attempt_at": bindparam("lease_end"),
        "lease_id": bindparam("lease_id"),
        "attempts": generation_jobs.c.attempts + literal_column("1"),
    },
)
JOB_BACKLOG = _backlog(generation_jobs)

# idempotency keys: parameters match_scope, match_request, match_key, now, limit
_IDEMPOTENCY_MATCH = and_(
    idempotency_keys.c.scope == bindparam("match_scope"),
    idempotency_keys.c.request == bindparam("match_request"),
    idempotency_keys.c.key == bindparam("match_key"),
)
IDEMPOTENCY = select(idempotency_keys).where(_IDEMPOTENCY_MATCH)
IDEMPOTENCY_LOCKED = IDEMPOTENCY.with_for_update()
ADD_IDEMPOTENCY = idempotency_keys.insert()
UPDATE_IDEMPOTENCY = idempotency_keys.update().where(_IDEMPOTENCY_MATCH)
REMOVE_IDEMPOTENCY = idempotency_keys.delete().where(_IDEMPOTENCY_MATCH)
_IDEMPOTENCY_ID = (idempotency_keys.c.scope, idempotency_keys.c.request, idempotency_keys.c.key)
PURGE_IDEMPOTENCY: Delete = idempotency_keys.delete().where(
    tuple_(*_IDEMPOTENCY_ID).in_(
        select(*_IDEMPOTENCY_ID)
        .where(idempotency_keys.c.expires_at <= bindparam("now"))
        .order_by(idempotency_keys.c.expires_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
)
"""Up to ``limit`` keys past retention, skipping any another transaction holds."""
