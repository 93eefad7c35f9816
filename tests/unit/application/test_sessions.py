"""Sessions of the operator page: an API key exchanged for a token, checked again on every
use, ended by sign-out, idleness, the lifetime, or the key's revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from export_resend.adapters.memory import InMemoryApiKeyStore, InMemorySessionStore
from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.errors import ClientNotAllowed, Unauthenticated
from export_resend.application.sessions import ResumeSession, SignIn, SignOut, token_digest
from export_resend.domain.api_keys import ApiKey
from export_resend.testing import ManualClock
from tests.conftest import issue_key
from tests.factories import NOW, caller

IDLE, LIFETIME = timedelta(minutes=30), timedelta(hours=8)


class Sessions:
    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.keys = InMemoryApiKeyStore()
        self.store = InMemorySessionStore()
        authenticate = AuthenticateCaller(api_keys=self.keys, clock=self.clock)
        self.sign_in = SignIn(
            authenticate=authenticate,
            sessions=self.store,
            clock=self.clock,
            lifetime=LIFETIME,
            idle=IDLE,
        )
        self.resume = ResumeSession(
            authenticate=authenticate, sessions=self.store, clock=self.clock, idle=IDLE
        )
        self.sign_out = SignOut(sessions=self.store)


@pytest.fixture
def sessions() -> Sessions:
    return Sessions()


async def test_a_key_opens_a_session_that_stores_neither_the_token_nor_the_key(
    sessions: Sessions,
) -> None:
    key = await issue_key(sessions.keys, caller())
    signed_in = await sessions.sign_in(key, "OPERATOR")
    stored = await sessions.store.get(token_digest(signed_in.token))
    assert stored == signed_in.session
    assert stored.key_sha256 == ApiKey.parse(key).sha256
    assert stored.key_id == ApiKey.parse(key).key_id
    assert signed_in.token not in repr(stored)
    assert key not in repr(stored)
    assert stored.expires_at == NOW + IDLE
    assert stored.ends_at == NOW + LIFETIME
    _, again = await sessions.resume(signed_in.token)
    assert again == caller()
    assert again.credential == stored.key_sha256


async def test_a_key_is_checked_as_the_api_checks_it(sessions: Sessions) -> None:
    key = await issue_key(sessions.keys, caller())
    with pytest.raises(Unauthenticated):
        await sessions.sign_in("erk_not-a-key", "OPERATOR")
    with pytest.raises(ClientNotAllowed):
        await sessions.sign_in(key, "SUPPLIER")
    assert await sessions.store.purge(NOW + LIFETIME * 2) == 0


async def test_each_use_pushes_the_idle_end_back_but_never_past_the_lifetime(
    sessions: Sessions,
) -> None:
    key = await issue_key(sessions.keys, caller())
    token = (await sessions.sign_in(key, "OPERATOR")).token
    for _ in range(15):  # 15 uses, 29 minutes apart: 7 h 15 min
        sessions.clock.advance(timedelta(minutes=29))
        await sessions.resume(token)
    session, _ = await sessions.resume(token)
    assert session.expires_at == sessions.clock.now() + IDLE
    sessions.clock.advance(timedelta(minutes=29))
    session, _ = await sessions.resume(token)
    assert session.expires_at == session.ends_at == NOW + LIFETIME
    sessions.clock.set(NOW + LIFETIME)
    with pytest.raises(Unauthenticated):
        await sessions.resume(token)


async def test_the_idle_end_is_written_at_most_once_a_minute(sessions: Sessions) -> None:
    key = await issue_key(sessions.keys, caller())
    token = (await sessions.sign_in(key, "OPERATOR")).token
    sessions.clock.advance(timedelta(seconds=59))
    await sessions.resume(token)
    assert (await sessions.store.get(token_digest(token))).expires_at == NOW + IDLE  # type: ignore[union-attr]
    sessions.clock.advance(timedelta(seconds=1))
    await sessions.resume(token)
    stored = await sessions.store.get(token_digest(token))
    assert stored is not None
    assert stored.expires_at == NOW + timedelta(minutes=1) + IDLE


async def test_signing_out_or_revoking_the_key_ends_the_session(sessions: Sessions) -> None:
    key = await issue_key(sessions.keys, caller())
    first = (await sessions.sign_in(key, "OPERATOR")).token
    second = (await sessions.sign_in(key, "OPERATOR")).token
    await sessions.sign_out(first)
    await sessions.sign_out(first)
    with pytest.raises(Unauthenticated):
        await sessions.resume(first)
    await sessions.keys.revoke(ApiKey.parse(key).key_id, NOW)
    with pytest.raises(Unauthenticated):
        await sessions.resume(second)
    assert await sessions.store.get(token_digest(second)) is None


async def test_a_sign_in_deletes_the_sessions_expired_by_then(sessions: Sessions) -> None:
    key = await issue_key(sessions.keys, caller())
    old = (await sessions.sign_in(key, "OPERATOR")).token
    sessions.clock.advance(IDLE)
    await sessions.sign_in(key, "OPERATOR")
    assert await sessions.store.get(token_digest(old)) is None
