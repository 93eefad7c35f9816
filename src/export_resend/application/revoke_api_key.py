"""Revoke an API key by its key id: from then on it authenticates nobody."""

from __future__ import annotations

from export_resend.application.errors import ApplicationError
from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.ports import ApiKeyStore, Clock, UnknownId


class ApiKeyNotFound(ApplicationError):
    """No key has this key id."""


class RevokeApiKey:
    """Revoke the key with ``key_id`` and return its record (a key revoked before keeps its
    first ``revoked_at``). Raises ``ApiKeyNotFound`` for an unknown key id."""

    def __init__(self, *, api_keys: ApiKeyStore, clock: Clock) -> None:
        self._api_keys = api_keys
        self._clock = clock

    async def __call__(self, key_id: str) -> ApiKeyRecord:
        try:
            return await self._api_keys.revoke(key_id, self._clock.now())
        except UnknownId:
            raise ApiKeyNotFound(f"no API key has the id {key_id!r}") from None
