"""Authentication: a well-formed, known key and its user's own client type, or nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_resend.adapters.memory import InMemoryApiKeyStore
from export_resend.application.authenticate_caller import AuthenticateCaller, hash_api_key
from export_resend.application.errors import ClientNotAllowed, Unauthenticated
from export_resend.domain.api_keys import ApiKey, ApiKeyRecord
from export_resend.domain.caller import Caller, ClientType
from export_resend.testing import ManualClock
from tests.conftest import World, issue_key
from tests.factories import NOW, caller

SAM = caller("sam", "acme", ClientType.SUPPLIER)


class RecordingApiKeyStore(InMemoryApiKeyStore):
    """The in-memory store, noting every call made to it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.uses: list[datetime] = []
        self.failing = False

    async def find_caller(self, key_sha256: str) -> Caller | None:
        self.calls.append("find_caller")
        return await super().find_caller(key_sha256)

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None:
        self.calls.append("record_use")
        if self.failing:
            raise ConnectionError(f"database gone while recording {key_sha256}")
        self.uses.append(at)
        await super().record_use(key_sha256, at, unless_used_since=unless_used_since)

    async def last_used(self) -> Sequence[datetime | None]:
        return [r.last_used_at for r in await self.list()]


@pytest.fixture
def store() -> RecordingApiKeyStore:
    return RecordingApiKeyStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def authenticate(store: RecordingApiKeyStore, clock: ManualClock) -> AuthenticateCaller:
    return AuthenticateCaller(api_keys=store, clock=clock)


async def test_a_known_key_with_its_client_type_is_its_caller(world: World) -> None:
    key = await world.add_caller(SAM)
    assert await world.container.authenticate_caller()(key, "SUPPLIER") == SAM


@pytest.mark.parametrize(
    ("key", "client"),
    [(None, "SUPPLIER"), ("", "SUPPLIER"), ("KEY", None), ("KEY", ""), ("wrong", "SUPPLIER")],
)
async def test_missing_or_unknown_credentials_are_unauthenticated(
    world: World, key: str | None, client: str | None
) -> None:
    real = await world.add_caller(SAM)
    with pytest.raises(Unauthenticated):
        await world.container.authenticate_caller()(real if key == "KEY" else key, client)


async def test_a_well_formed_key_that_is_not_stored_is_unauthenticated(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller
) -> None:
    with pytest.raises(Unauthenticated, match="not valid"):
        await authenticate(ApiKey.generate().text, "OPERATOR")
    assert store.calls == ["find_caller"]


@given(text=st.text(min_size=1))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_a_malformed_key_is_refused_without_asking_the_store(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller, text: str
) -> None:
    with pytest.raises(Unauthenticated, match="not valid"):
        await authenticate(text, "OPERATOR")
    assert store.calls == []


async def test_a_mistyped_key_is_refused_without_asking_the_store(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller
) -> None:
    key = await issue_key(store, SAM)
    typo = key[:20] + ("a" if key[20] != "a" else "b") + key[21:]
    for text in (typo, key[:-1], key + "x", key.upper(), key.replace("erk_", "ghp_"), f" {key}"):
        with pytest.raises(Unauthenticated):
            await authenticate(text, "SUPPLIER")
    assert store.calls == []
    assert await authenticate(key, "SUPPLIER") == SAM


async def test_a_key_in_the_old_format_is_refused_even_if_stored(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller
) -> None:
    legacy = "key-0123456789abcdef0123456789abcdef"
    await store.add(hash_api_key(legacy), ApiKeyRecord(None, SAM, NOW))
    with pytest.raises(Unauthenticated):
        await authenticate(legacy, "SUPPLIER")
    assert store.calls == []


async def test_a_revoked_key_is_unauthenticated(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller
) -> None:
    key = ApiKey.parse(await issue_key(store, SAM))
    await store.revoke(key.key_id, NOW)
    with pytest.raises(Unauthenticated):
        await authenticate(key.text, "SUPPLIER")


@pytest.mark.parametrize("client", ["OPERATOR", "ACCOUNT", "supplier", "ADMIN"])
async def test_another_client_type_is_not_allowed(world: World, client: str) -> None:
    key = await world.add_caller(SAM)
    with pytest.raises(ClientNotAllowed):
        await world.container.authenticate_caller()(key, client)


def test_keys_are_stored_as_sha256_hex() -> None:
    digest = hash_api_key("abc")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    key = ApiKey.generate()
    assert key.sha256 == hash_api_key(key.text)


async def test_a_busy_key_records_its_use_once_a_minute(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller, clock: ManualClock
) -> None:
    key = await issue_key(store, SAM)
    for _ in range(3):
        await authenticate(key, "SUPPLIER")
    assert await store.last_used() == [NOW]
    for _ in range(59):
        clock.advance(timedelta(seconds=1))
        await authenticate(key, "SUPPLIER")
    assert store.uses == [NOW]
    assert store.calls.count("record_use") == 1
    later = clock.advance(timedelta(seconds=1, microseconds=1))
    await authenticate(key, "SUPPLIER")
    assert store.uses == [NOW, later]
    assert await store.last_used() == [later]


async def test_each_key_is_throttled_on_its_own(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller
) -> None:
    sam = await issue_key(store, SAM)
    olivia = await issue_key(store, caller("olivia"))
    await authenticate(sam, "SUPPLIER")
    await authenticate(olivia, "OPERATOR")
    assert await store.last_used() == [NOW, NOW]


async def test_a_refused_client_type_records_no_use(
    store: RecordingApiKeyStore, authenticate: AuthenticateCaller
) -> None:
    key = await issue_key(store, SAM)
    with pytest.raises(ClientNotAllowed):
        await authenticate(key, "OPERATOR")
    assert await store.last_used() == [None]


async def test_another_process_that_recorded_the_use_lately_is_not_overwritten(
    store: RecordingApiKeyStore, clock: ManualClock
) -> None:
    key = await issue_key(store, SAM)
    first, second = (AuthenticateCaller(api_keys=store, clock=clock) for _ in range(2))
    await first(key, "SUPPLIER")
    clock.advance(timedelta(seconds=30))
    await second(key, "SUPPLIER")  # its own throttle lets it try; the store's condition holds
    assert store.calls.count("record_use") == 2
    assert await store.last_used() == [NOW]


async def test_a_use_that_cannot_be_recorded_still_authenticates_and_is_logged_without_the_key(
    store: RecordingApiKeyStore,
    authenticate: AuthenticateCaller,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = await issue_key(store, SAM)
    store.failing = True
    with caplog.at_level(logging.WARNING):
        assert await authenticate(key, "SUPPLIER") == SAM
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    shown = warning.getMessage() + str(warning.exc_info) + str(warning.args)
    assert ApiKey.parse(key).key_id in shown
    assert "ConnectionError" in shown
    assert ApiKey.parse(key).secret not in shown
    assert hash_api_key(key) not in shown
    # tried again only after the interval: a broken database is not hammered
    assert await authenticate(key, "SUPPLIER") == SAM
    assert store.calls.count("record_use") == 1
    clock.advance(timedelta(minutes=2))
    store.failing = False
    assert await authenticate(key, "SUPPLIER") == SAM
    assert await store.last_used() == [clock.now()]
