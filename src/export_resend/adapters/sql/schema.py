"""The tables, as SQLAlchemy Core: the migrations and the adapters both read them from here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} refused: store aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")

VERSION_TABLE = "export_resend_alembic_version"
"""Where Alembic keeps the revision of our tables: a name of our own, so that a host's own
Alembic in the same database (``ExportResend(engine=...)``) keeps its ``alembic_version``."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("client_type", String(16), nullable=False),
    Column("supplier_id", String(128)),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_sha256", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    # the public part of a key, shown by `keys list` and named to `keys revoke`; keys made
    # before revision 0005 have none
    Column("key_id", String(32), unique=True),
    ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
)

exports = Table(
    "exports",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("owner_id", String(128), nullable=False),
    Column("owner_email", String(320), nullable=False),
    Column("cc", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("ready_at", UtcDateTime),
    Column("expires_at", UtcDateTime),
    Column("storage_key", String(512)),
    Column("size_bytes", BigInteger),
    Column("row_count", BigInteger),
    Column("sha256", String(64)),
    Column("failure_reason", Text),
    Column("version", Integer, nullable=False),
    Column("filters", Json),
    Column("supplier_scope", String(128)),
    # read backwards for "newest first": same speed as a DESC index, and plain columns
    Index("ix_exports_history", "tenant_id", "owner_id", "requested_at", "id"),
    # history filtered by (effective) status reads only that owner's rows of that status
    Index("ix_exports_history_status", "tenant_id", "owner_id", "status", "requested_at", "id"),
    Index("ix_exports_expiry", "status", "expires_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("export_id", Uuid, ForeignKey("exports.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("cc", Json, nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_attempt_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("last_error", Text),
    Column("results", Json, nullable=False),
    Column("lease_id", Uuid),
    Index("ix_deliveries_export", "export_id", "queued_at"),
)

# the dispatchers' claim reads waiting rows only, earliest next_attempt_at first, in index
# order: a partial index stays as small as the queue, however many rows were ever sent
_WAITING = deliveries.c.status.in_(["QUEUED", "SENDING"])
Index(
    "ix_deliveries_due",
    deliveries.c.next_attempt_at,
    deliveries.c.id,
    postgresql_where=_WAITING,
    sqlite_where=_WAITING,
)

generation_jobs = Table(
    "generation_jobs",
    metadata,
    Column("export_id", Uuid, ForeignKey("exports.id"), primary_key=True),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_id", Uuid),
    # only PENDING exports have a job, so the table is as small as the queue
    Index("ix_generation_jobs_due", "next_attempt_at", "export_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # scoped to the API key (its digest), the request (method and path) and the key itself
    Column("scope", String(64), primary_key=True),
    Column("request", String(512), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # while the first request runs: who holds the key, and until when
    Column("lease_id", Uuid),
    Column("locked_until", UtcDateTime),
    # once it has succeeded: its result, as its use case recorded it, to answer retries from
    Column("result", Json),
    Index("ix_idempotency_keys_expiry", "expires_at"),
)

ui_sessions = Table(
    "ui_sessions",
    metadata,
    # the SHA-256 of the browser's token and of the API key: neither is stored itself
    Column("token_sha256", String(64), primary_key=True),
    Column("key_sha256", String(64), nullable=False),
    Column("key_id", String(32)),
    Column("client_type", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_ui_sessions_expiry", "expires_at"),
)
