"""A short-lived cache in front of any API-key store: one database round trip less per call."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from cachetools import TTLCache

from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore


class CachingApiKeyStore(ApiKeyStore):
    """Remembers found callers for ``ttl_seconds`` (at most ``max_entries`` of them).

    Unknown keys are never cached, so a flood of bad keys cannot fill memory or hide a key
    added later. A key revoked through this store stops working here at once; one revoked
    elsewhere (another process, ``export-resend keys revoke``) keeps working here for up to
    ``ttl_seconds``: keep it short.
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
        self._revocations = 0

    async def find_caller(self, key_sha256: str) -> Caller | None:
        caller = self._found.get(key_sha256)
        if caller is None:
            revocations = self._revocations
            caller = await self._inner.find_caller(key_sha256)
            # a look-up that overlapped a revoke may have read the key before it was revoked
            if caller is not None and revocations == self._revocations:
                self._found[key_sha256] = caller
        return caller

    async def add(self, key_sha256: str, record: ApiKeyRecord) -> None:
        await self._inner.add(key_sha256, record)

    async def list(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]:
        return await self._inner.list(tenant_id)

    async def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord:
        try:
            return await self._inner.revoke(key_id, at)
        finally:
            # found callers are remembered by digest, which a key id does not give: revokes
            # are rare, so forgetting them all costs a few look-ups at most
            self._revocations += 1
            self._found.clear()

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None:
        await self._inner.record_use(key_sha256, at, unless_used_since=unless_used_since)
