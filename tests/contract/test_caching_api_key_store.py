"""The caching key store is still an ApiKeyStore, and forgets on time."""

from __future__ import annotations

import pytest

from export_resend.adapters.caching import CachingApiKeyStore
from export_resend.adapters.memory import InMemoryApiKeyStore
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore
from export_resend.testing.contracts import ApiKeyStoreContract
from tests.factories import caller


class TestCachingApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_keys(self) -> ApiKeyStore:
        return CachingApiKeyStore(InMemoryApiKeyStore())


class Counting(InMemoryApiKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def find_caller(self, key_sha256: str) -> Caller | None:
        self.lookups += 1
        return await super().find_caller(key_sha256)


async def test_a_found_key_is_looked_up_once_per_ttl() -> None:
    inner, now = Counting(), [0.0]
    cache = CachingApiKeyStore(inner, ttl_seconds=30, timer=lambda: now[0])
    await inner.add("a" * 64, caller())
    for _ in range(5):
        assert await cache.find_caller("a" * 64) == caller()
    assert inner.lookups == 1
    now[0] = 31.0
    assert await cache.find_caller("a" * 64) == caller()
    assert inner.lookups == 2


async def test_an_unknown_key_is_never_remembered() -> None:
    inner = Counting()
    cache = CachingApiKeyStore(inner)
    assert await cache.find_caller("b" * 64) is None
    await inner.add("b" * 64, caller())
    assert await cache.find_caller("b" * 64) == caller()
    assert inner.lookups == 2


async def test_the_cache_is_bounded() -> None:
    inner = Counting()
    cache = CachingApiKeyStore(inner, max_entries=2)
    for digit in "123":
        await inner.add(digit * 64, caller(f"user{digit}"))
        await cache.find_caller(digit * 64)
    await cache.find_caller("1" * 64)
    assert inner.lookups == 4  # the first was evicted and looked up again
