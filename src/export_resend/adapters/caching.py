"""A short-lived cache in front of any API-key store: one database round trip less per call."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore


class CachingApiKeyStore(ApiKeyStore):
    """Remembers found callers for ``ttl_seconds`` (at most ``max_entries`` of them).

    Unknown keys are never cached, so a flood of bad keys cannot fill memory or hide a key
    added later. A key revoked in the store keeps working here for up to ``ttl_seconds``:
    keep it short.
    """

    def __init__(
        self,
        inner: ApiKeyStore,
        *,
        ttl_seconds: float = 30.0,
        max_entries: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._found: TTLCache[str, Caller] = TTLCache(max_entries, ttl_seconds, timer)

    async def find_caller(self, key_sha256: str) -> Caller | None:
        caller = self._found.get(key_sha256)
        if caller is None:
            caller = await self._inner.find_caller(key_sha256)
            if caller is not None:
                self._found[key_sha256] = caller
        return caller

    async def add(self, key_sha256: str, caller: Caller) -> None:
        await self._inner.add(key_sha256, caller)
