"""Sign-in sessions of the operator page: an API key exchanged for a session, checked again
on every request, ended on the server by signing out.

The browser holds a random token; the store holds its SHA-256 digest, so a copy of the
store opens no session. Beside it, the store keeps the SHA-256 digest of the API key (what
the key store itself is searched by, never the key), with which every request is
authenticated again through ``AuthenticateCaller``: a revoked key ends its sessions as it
ends API calls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.errors import ClientNotAllowed, Unauthenticated
from export_resend.domain.api_keys import ApiKey
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.ports import Clock

TOKEN_BYTES = 32
TOUCH_INTERVAL = timedelta(minutes=1)
"""A session's idle end is pushed back at most this often (one write a minute, at most)."""


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a session is stored; the token itself never is."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OperatorSession:
    """One signed-in browser. It ends at ``expires_at``: ``idle`` after its last use, never
    after ``ends_at``."""

    token_sha256: str
    key_sha256: str
    key_id: str | None
    client_type: ClientType
    created_at: datetime
    ends_at: datetime
    expires_at: datetime

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def used(self, now: datetime, idle: timedelta) -> OperatorSession:
        """The session after a use at ``now``: it expires ``idle`` later, at ``ends_at``
        at the latest."""
        return dataclasses.replace(self, expires_at=min(self.ends_at, now + idle))


class SessionStore(Protocol):
    """Sessions by the SHA-256 of their token. ``add`` raises ``DuplicateId`` for a stored
    digest; ``get`` returns the session as stored (expired or not) or ``None``;
    ``set_expiry`` changes ``expires_at`` of a stored session (nothing for an unknown one);
    ``remove`` is idempotent; ``purge`` deletes every session expired at ``now`` and says
    how many."""

    async def add(self, session: OperatorSession) -> None: ...

    async def get(self, token_sha256: str) -> OperatorSession | None: ...

    async def set_expiry(self, token_sha256: str, expires_at: datetime) -> None: ...

    async def remove(self, token_sha256: str) -> None: ...

    async def purge(self, now: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the token to give the browser (once), and who signed in."""

    token: str
    session: OperatorSession
    caller: Caller


class SignIn:
    """Check an API key and its client type as the API does (``Unauthenticated``,
    ``ClientNotAllowed``), then open a session for it; sessions expired by then are
    deleted on the way."""

    def __init__(
        self,
        *,
        authenticate: AuthenticateCaller,
        sessions: SessionStore,
        clock: Clock,
        lifetime: timedelta,
        idle: timedelta,
    ) -> None:
        self._authenticate = authenticate
        self._sessions = sessions
        self._clock = clock
        self._lifetime = lifetime
        self._idle = idle

    async def __call__(self, api_key: str | None, client: str | None) -> SignedIn:
        caller = await self._authenticate(api_key, client)
        key = ApiKey.parse(api_key or "")  # well formed: it has just authenticated
        now = self._clock.now()
        await self._sessions.purge(now)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        ends_at = now + self._lifetime
        session = OperatorSession(
            token_sha256=token_digest(token),
            key_sha256=key.sha256,
            key_id=key.key_id,
            client_type=caller.client_type,
            created_at=now,
            ends_at=ends_at,
            expires_at=min(ends_at, now + self._idle),
        )
        await self._sessions.add(session)
        return SignedIn(token, session, caller)


class ResumeSession:
    """The caller of a session token, authenticated again by the session's key.

    Raises ``Unauthenticated`` for an unknown or expired session, and for a session whose
    key no longer authenticates (revoked): such a session is ended on the way.
    """

    def __init__(
        self,
        *,
        authenticate: AuthenticateCaller,
        sessions: SessionStore,
        clock: Clock,
        idle: timedelta,
    ) -> None:
        self._authenticate = authenticate
        self._sessions = sessions
        self._clock = clock
        self._idle = idle

    async def __call__(self, token: str) -> tuple[OperatorSession, Caller]:
        digest = token_digest(token)
        session = await self._sessions.get(digest)
        now = self._clock.now()
        if session is None or session.is_expired(now):
            raise Unauthenticated("the session has ended: sign in again")
        try:
            caller = await self._authenticate.by_digest(
                session.key_sha256, session.client_type.value, key_id=session.key_id
            )
        except (Unauthenticated, ClientNotAllowed):
            await self._sessions.remove(digest)
            raise Unauthenticated("the session's API key is no longer valid") from None
        renewed = session.used(now, self._idle)
        if renewed.expires_at - session.expires_at >= TOUCH_INTERVAL:
            await self._sessions.set_expiry(digest, renewed.expires_at)
        return renewed, caller


class SignOut:
    """End a session on the server: its token opens nothing from then on. Idempotent."""

    def __init__(self, *, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def __call__(self, token: str) -> None:
        await self._sessions.remove(token_digest(token))
