"""Sessions of the operator page in a dictionary, by the digest of their token."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from export_resend.application.sessions import OperatorSession, SessionStore
from export_resend.domain.ports import DuplicateId


class InMemorySessionStore(SessionStore):
    """Sessions for as long as the process lives (one process: a restart signs everyone out)."""

    def __init__(self) -> None:
        self._sessions: dict[str, OperatorSession] = {}

    async def add(self, session: OperatorSession) -> None:
        if session.token_sha256 in self._sessions:
            raise DuplicateId(session.token_sha256)
        self._sessions[session.token_sha256] = session

    async def get(self, token_sha256: str) -> OperatorSession | None:
        return self._sessions.get(token_sha256)

    async def set_expiry(self, token_sha256: str, expires_at: datetime) -> None:
        session = self._sessions.get(token_sha256)
        if session is not None:
            self._sessions[token_sha256] = dataclasses.replace(session, expires_at=expires_at)

    async def remove(self, token_sha256: str) -> None:
        self._sessions.pop(token_sha256, None)

    async def purge(self, now: datetime) -> int:
        expired = [digest for digest, s in self._sessions.items() if s.is_expired(now)]
        for digest in expired:
            del self._sessions[digest]
        return len(expired)
