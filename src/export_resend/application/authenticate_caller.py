"""Tell who is calling from the ``dj-api-key`` and ``dj-client`` headers."""

from __future__ import annotations

import hashlib

from export_resend.application.errors import ClientNotAllowed, Unauthenticated
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore


def hash_api_key(api_key: str) -> str:
    """The SHA-256 hex digest under which a key is stored; the key itself never is."""
    return hashlib.sha256(api_key.encode()).hexdigest()


class AuthenticateCaller:
    """Raise ``Unauthenticated`` for a missing or unknown key, ``ClientNotAllowed`` for a
    ``dj-client`` that is not the key's user's client type; otherwise return the caller."""

    def __init__(self, *, api_keys: ApiKeyStore) -> None:
        self._api_keys = api_keys

    async def __call__(self, api_key: str | None, client: str | None) -> Caller:
        if not api_key or not client:
            raise Unauthenticated("the dj-api-key and dj-client headers are required")
        caller = await self._api_keys.find_caller(hash_api_key(api_key))
        if caller is None:
            raise Unauthenticated("the API key is not valid")
        if client != caller.client_type.value:
            raise ClientNotAllowed("the dj-client header does not match this API key's client")
        return caller
