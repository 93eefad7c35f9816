"""API keys, users and tenants in SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from export_resend.adapters.sql.rows import caller_from
from export_resend.adapters.sql.schema import api_keys, tenants, users
from export_resend.adapters.sql.unit_of_work import SQLITE_BEGIN
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore, DuplicateId


async def _insert_or_ignore(connection: AsyncConnection, table: Table, **values: Any) -> None:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    await connection.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())


class SqlAlchemyApiKeyStore(ApiKeyStore):
    """Keys by digest, with the users they belong to; revoked keys find nobody."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._query = (
            select(users)
            .join(
                api_keys,
                (api_keys.c.tenant_id == users.c.tenant_id) & (api_keys.c.user_id == users.c.id),
            )
            .where(api_keys.c.revoked_at.is_(None), api_keys.c.key_sha256 == bindparam("digest"))
        )

    async def find_caller(self, key_sha256: str) -> Caller | None:
        async with self._engine.connect() as connection:
            await connection.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            result = await connection.execute(self._query, {"digest": key_sha256})
            row = result.mappings().first()
        return None if row is None else caller_from(row)

    async def add(self, key_sha256: str, caller: Caller) -> None:
        """Store the key; the tenant and the user are created if needed (the user's email,
        client type and supplier are those of the first key; they are not updated)."""
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as connection:
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
                await connection.execute(
                    api_keys.insert().values(
                        key_sha256=key_sha256,
                        tenant_id=caller.tenant_id,
                        user_id=caller.user_id,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateId(key_sha256) from exc
