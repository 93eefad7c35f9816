"""Every ``SessionStore`` (in memory, SQLite, PostgreSQL) keeps the same contract."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import uuid4

import pytest

from export_resend.adapters.memory import InMemorySessionStore
from export_resend.adapters.sql import Database, SqlAlchemySessionStore
from export_resend.application.sessions import OperatorSession, SessionStore, token_digest
from export_resend.domain.caller import ClientType
from export_resend.domain.ports import DuplicateId
from tests.factories import NOW


def _session(**changes: object) -> OperatorSession:
    session = OperatorSession(
        token_sha256=token_digest(uuid4().hex),
        key_sha256=token_digest(uuid4().hex),
        key_id="k" * 12,
        client_type=ClientType.OPERATOR,
        created_at=NOW,
        ends_at=NOW + timedelta(hours=8),
        expires_at=NOW + timedelta(minutes=30),
    )
    return dataclasses.replace(session, **changes)  # type: ignore[arg-type]


class SessionStoreContract:
    """Each test makes sessions of its own, so the store may be shared."""

    @pytest.fixture
    def sessions(self) -> SessionStore:
        raise NotImplementedError

    async def test_a_session_is_found_by_its_digest_as_stored(self, sessions: SessionStore) -> None:
        session = _session(key_id=None, client_type=ClientType.SUPPLIER)
        await sessions.add(session)
        assert await sessions.get(session.token_sha256) == session
        assert await sessions.get(token_digest("unknown")) is None

    async def test_a_digest_is_stored_once(self, sessions: SessionStore) -> None:
        session = _session()
        await sessions.add(session)
        with pytest.raises(DuplicateId):
            await sessions.add(dataclasses.replace(session, key_sha256="0" * 64))
        assert await sessions.get(session.token_sha256) == session

    async def test_the_expiry_moves_for_that_session_only(self, sessions: SessionStore) -> None:
        session, other = _session(), _session()
        await sessions.add(session)
        await sessions.add(other)
        later = NOW + timedelta(hours=1)
        await sessions.set_expiry(session.token_sha256, later)
        await sessions.set_expiry(token_digest("unknown"), later)
        assert await sessions.get(session.token_sha256) == dataclasses.replace(
            session, expires_at=later
        )
        assert await sessions.get(other.token_sha256) == other

    async def test_a_removed_session_is_gone_and_removing_again_is_harmless(
        self, sessions: SessionStore
    ) -> None:
        session = _session()
        await sessions.add(session)
        await sessions.remove(session.token_sha256)
        await sessions.remove(session.token_sha256)
        assert await sessions.get(session.token_sha256) is None

    async def test_purge_deletes_the_sessions_expired_at_that_moment(
        self, sessions: SessionStore
    ) -> None:
        far = NOW + timedelta(days=3650)
        expired = _session(expires_at=far - timedelta(seconds=1))
        at_the_moment = _session(expires_at=far)
        alive = _session(expires_at=far + timedelta(seconds=1), ends_at=far + timedelta(days=1))
        for session in (expired, at_the_moment, alive):
            await sessions.add(session)
        assert await sessions.purge(far) >= 2
        assert await sessions.get(expired.token_sha256) is None
        assert await sessions.get(at_the_moment.token_sha256) is None
        assert await sessions.get(alive.token_sha256) == alive


class TestInMemorySessionStore(SessionStoreContract):
    @pytest.fixture
    def sessions(self) -> SessionStore:
        return InMemorySessionStore()


class TestSqlAlchemySessionStore(SessionStoreContract):
    @pytest.fixture
    def sessions(self, database: Database) -> SessionStore:
        return SqlAlchemySessionStore(database.engine)
