"""API keys in a dictionary, by digest."""

from __future__ import annotations

from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore, DuplicateId


class InMemoryApiKeyStore(ApiKeyStore):
    """Keys by SHA-256 digest, for as long as the process lives."""

    def __init__(self) -> None:
        self._callers: dict[str, Caller] = {}

    async def find_caller(self, key_sha256: str) -> Caller | None:
        return self._callers.get(key_sha256)

    async def add(self, key_sha256: str, caller: Caller) -> None:
        if key_sha256 in self._callers:
            raise DuplicateId(key_sha256)
        self._callers[key_sha256] = caller
