"""API keys, users and tenants on SQLAlchemy Core: one store for both SQL packages (the
cache in front of it keeps it off every request's path)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from export_resend.adapters.sql.connections import connected
from export_resend.adapters.sql.database import SQLITE_BEGIN
from export_resend.adapters.sql.rows import api_key_record_from, caller_from
from export_resend.adapters.sql.schema import api_keys, tenants, users
from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore, DuplicateId, UnknownId, UserMismatch

_OWNER = (api_keys.c.tenant_id == users.c.tenant_id) & (api_keys.c.user_id == users.c.id)
_CALLER = (
    select(users)
    .join(api_keys, _OWNER)
    .where(api_keys.c.revoked_at.is_(None), api_keys.c.key_sha256 == bindparam("digest"))
)
_USER = select(users).where(
    users.c.tenant_id == bindparam("tenant_id"), users.c.id == bindparam("user_id")
)
_RECORDS = (
    select(
        users,
        api_keys.c.key_id,
        api_keys.c.created_at.label("key_created_at"),
        api_keys.c.last_used_at,
        api_keys.c.revoked_at,
    )
    .join(api_keys, _OWNER)
    .order_by(api_keys.c.created_at, api_keys.c.key_sha256)
)
_REVOKE = (
    api_keys.update()
    .where(api_keys.c.key_id == bindparam("match_key_id"), api_keys.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("at"))
)
_RECORD_USE = (
    api_keys.update()
    .where(
        api_keys.c.key_sha256 == bindparam("digest"),
        or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < bindparam("since")),
    )
    .values(last_used_at=bindparam("at"))
)


async def _insert_or_ignore(connection: AsyncConnection, table: Table, **values: Any) -> None:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    await connection.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())


class SqlAlchemyApiKeyStore(ApiKeyStore):
    """Keys by digest, with the users they belong to; revoked keys find nobody."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def find_caller(self, key_sha256: str) -> Caller | None:
        async with connected(self._engine) as connection:
            await connection.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            result = await connection.execute(_CALLER, {"digest": key_sha256})
            row = result.mappings().first()
        return None if row is None else caller_from(row)

    async def add(self, key_sha256: str, record: ApiKeyRecord) -> None:
        """Store the key; its tenant and its user are created with the first key."""
        caller, now = record.caller, record.created_at
        try:
            async with connected(self._engine) as connection, connection.begin():
                await _insert_or_ignore(connection, tenants, id=caller.tenant_id, created_at=now)
                await _insert_or_ignore(
                    connection,
                    users,
                    tenant_id=caller.tenant_id,
                    id=caller.user_id,
                    email=caller.email,
                    client_type=caller.client_type.value,
                    supplier_id=caller.supplier_id,
                    created_at=now,
                )
                result = await connection.execute(
                    _USER, {"tenant_id": caller.tenant_id, "user_id": caller.user_id}
                )
                if caller_from(result.mappings().one()) != caller:
                    raise UserMismatch(f"user {caller.user_id} of tenant {caller.tenant_id}")
                await connection.execute(
                    api_keys.insert().values(
                        key_sha256=key_sha256,
                        key_id=record.key_id,
                        tenant_id=caller.tenant_id,
                        user_id=caller.user_id,
                        created_at=record.created_at,
                        last_used_at=record.last_used_at,
                        revoked_at=record.revoked_at,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateId(record.key_id or key_sha256) from exc

    async def list(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]:
        query = _RECORDS if tenant_id is None else _RECORDS.where(users.c.tenant_id == tenant_id)
        async with connected(self._engine) as connection:
            await connection.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            result = await connection.execute(query)
            return [api_key_record_from(row) for row in result.mappings()]

    async def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord:
        async with connected(self._engine) as connection, connection.begin():
            await connection.execute(_REVOKE, {"match_key_id": key_id, "at": at})
            result = await connection.execute(_RECORDS.where(api_keys.c.key_id == key_id))
            row = result.mappings().first()
        if row is None:
            raise UnknownId(key_id)
        return api_key_record_from(row)

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None:
        async with connected(self._engine) as connection, connection.begin():
            await connection.execute(
                _RECORD_USE, {"digest": key_sha256, "at": at, "since": unless_used_since}
            )
