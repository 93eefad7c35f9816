"""Sessions of the operator page in SQL, on the engine of the API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from export_resend.adapters.sql.connections import connected
from export_resend.adapters.sql.database import SQLITE_BEGIN
from export_resend.adapters.sql.schema import ui_sessions
from export_resend.application.sessions import OperatorSession, SessionStore
from export_resend.domain.caller import ClientType
from export_resend.domain.ports import DuplicateId

_GET = select(ui_sessions).where(ui_sessions.c.token_sha256 == bindparam("digest"))
_SET_EXPIRY = (
    ui_sessions.update()
    .where(ui_sessions.c.token_sha256 == bindparam("digest"))
    .values(expires_at=bindparam("at"))
)
_REMOVE = ui_sessions.delete().where(ui_sessions.c.token_sha256 == bindparam("digest"))
_PURGE = ui_sessions.delete().where(ui_sessions.c.expires_at <= bindparam("now"))


def _session_from(row: RowMapping) -> OperatorSession:
    return OperatorSession(
        token_sha256=row["token_sha256"],
        key_sha256=row["key_sha256"],
        key_id=row["key_id"],
        client_type=ClientType(row["client_type"]),
        created_at=row["created_at"],
        ends_at=row["ends_at"],
        expires_at=row["expires_at"],
    )


class SqlAlchemySessionStore(SessionStore):
    """Sessions by the digest of their token, in the ``ui_sessions`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, session: OperatorSession) -> None:
        try:
            async with connected(self._engine) as connection, connection.begin():
                await connection.execute(
                    ui_sessions.insert().values(
                        token_sha256=session.token_sha256,
                        key_sha256=session.key_sha256,
                        key_id=session.key_id,
                        client_type=session.client_type.value,
                        created_at=session.created_at,
                        ends_at=session.ends_at,
                        expires_at=session.expires_at,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateId(session.token_sha256) from exc

    async def get(self, token_sha256: str) -> OperatorSession | None:
        async with connected(self._engine) as connection:
            await connection.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            result = await connection.execute(_GET, {"digest": token_sha256})
            row = result.mappings().first()
        return None if row is None else _session_from(row)

    async def set_expiry(self, token_sha256: str, expires_at: datetime) -> None:
        async with connected(self._engine) as connection, connection.begin():
            await connection.execute(_SET_EXPIRY, {"digest": token_sha256, "at": expires_at})

    async def remove(self, token_sha256: str) -> None:
        async with connected(self._engine) as connection, connection.begin():
            await connection.execute(_REMOVE, {"digest": token_sha256})

    async def purge(self, now: datetime) -> int:
        async with connected(self._engine) as connection, connection.begin():
            result = await connection.execute(_PURGE, {"now": now})
        return int(result.rowcount)
