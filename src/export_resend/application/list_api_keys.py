"""List the API keys: who holds each, when it was made and last used, and if it is revoked."""

from __future__ import annotations

from collections.abc import Sequence

from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.ports import ApiKeyStore


class ListApiKeys:
    """Every key's record (of one tenant, if named), oldest first. Never a key itself."""

    def __init__(self, *, api_keys: ApiKeyStore) -> None:
        self._api_keys = api_keys

    async def __call__(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]:
        return await self._api_keys.list(tenant_id)
