"""The caching key store is still an ApiKeyStore, forgets on time, and forgets a revoked key."""

from __future__ import annotations

import asyncio

import pytest

from export_resend.adapters.caching import CachingApiKeyStore
from export_resend.adapters.memory import InMemoryApiKeyStore
from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore
from export_resend.testing import ApiKeyStoreContract
from export_resend.testing.samples import sample_key_record
from tests.factories import NOW, caller


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


def _record(who: Caller | None = None) -> tuple[str, ApiKeyRecord]:
    return sample_key_record(who or caller(), NOW)


async def test_a_found_key_is_looked_up_once_per_ttl() -> None:
    inner, now = Counting(), [0.0]
    cache = CachingApiKeyStore(inner, ttl_seconds=30, timer=lambda: now[0])
    digest, record = _record()
    await inner.add(digest, record)
    for _ in range(5):
        assert await cache.find_caller(digest) == caller()
    assert inner.lookups == 1
    now[0] = 31.0
    assert await cache.find_caller(digest) == caller()
    assert inner.lookups == 2


async def test_an_unknown_key_is_never_remembered() -> None:
    inner = Counting()
    cache = CachingApiKeyStore(inner)
    digest, record = _record()
    assert await cache.find_caller(digest) is None
    await inner.add(digest, record)
    assert await cache.find_caller(digest) == caller()
    assert inner.lookups == 2


async def test_the_cache_is_bounded() -> None:
    inner = Counting()
    cache = CachingApiKeyStore(inner, max_entries=2)
    digests = []
    for digit in "123":
        digest, record = _record(caller(f"user{digit}"))
        await inner.add(digest, record)
        await cache.find_caller(digest)
        digests.append(digest)
    await cache.find_caller(digests[0])
    assert inner.lookups == 4  # the first was evicted and looked up again


async def test_a_key_revoked_through_the_cache_stops_working_at_once() -> None:
    inner = Counting()
    cache = CachingApiKeyStore(inner, ttl_seconds=3600)
    digest, record = _record()
    await cache.add(digest, record)
    assert await cache.find_caller(digest) == caller()
    assert record.key_id is not None
    await cache.revoke(record.key_id, NOW)
    assert await cache.find_caller(digest) is None


async def test_a_key_revoked_elsewhere_works_here_until_the_ttl_ends() -> None:
    inner, now = Counting(), [0.0]
    cache = CachingApiKeyStore(inner, ttl_seconds=30, timer=lambda: now[0])
    digest, record = _record()
    await inner.add(digest, record)
    assert await cache.find_caller(digest) == caller()
    assert record.key_id is not None
    await inner.revoke(record.key_id, NOW)  # another process, through its own store
    assert await cache.find_caller(digest) == caller()
    now[0] = 31.0
    assert await cache.find_caller(digest) is None


class Slow(InMemoryApiKeyStore):
    """Reads the caller, then waits before answering: a look-up in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.read = asyncio.Event()
        self.answer = asyncio.Event()

    async def find_caller(self, key_sha256: str) -> Caller | None:
        found = await super().find_caller(key_sha256)
        self.read.set()
        await self.answer.wait()
        return found


async def test_a_look_up_overlapping_a_revoke_is_not_remembered() -> None:
    inner = Slow()
    cache = CachingApiKeyStore(inner, ttl_seconds=3600)
    digest, record = _record()
    await inner.add(digest, record)
    assert record.key_id is not None
    looking = asyncio.create_task(cache.find_caller(digest))
    await inner.read.wait()
    await cache.revoke(record.key_id, NOW)
    inner.answer.set()
    assert await looking == caller()  # read before the revoke
    assert await cache.find_caller(digest) is None
