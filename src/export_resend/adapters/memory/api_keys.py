"""API keys in dictionaries, by digest."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore, DuplicateId, UnknownId, UserMismatch


class InMemoryApiKeyStore(ApiKeyStore):
    """Keys by SHA-256 digest, and their users, for as long as the process lives."""

    def __init__(self) -> None:
        self._records: dict[str, ApiKeyRecord] = {}
        self._digests: dict[str, str] = {}
        self._users: dict[tuple[str, str], Caller] = {}

    async def find_caller(self, key_sha256: str) -> Caller | None:
        record = self._records.get(key_sha256)
        return None if record is None or record.revoked else record.caller

    async def add(self, key_sha256: str, record: ApiKeyRecord) -> None:
        caller = record.caller
        user = self._users.get((caller.tenant_id, caller.user_id))
        if user is not None and user != caller:
            raise UserMismatch(f"user {caller.user_id} of tenant {caller.tenant_id}")
        if key_sha256 in self._records:
            raise DuplicateId(key_sha256)
        if record.key_id is not None:
            if record.key_id in self._digests:
                raise DuplicateId(record.key_id)
            self._digests[record.key_id] = key_sha256
        self._users[(caller.tenant_id, caller.user_id)] = caller
        self._records[key_sha256] = record

    async def list(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]:
        records = self._records.values()
        return sorted(
            (r for r in records if tenant_id is None or r.caller.tenant_id == tenant_id),
            key=lambda r: r.created_at,
        )

    async def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord:
        digest = self._digests.get(key_id)
        if digest is None:
            raise UnknownId(key_id)
        record = self._records[digest]
        if not record.revoked:
            record = self._records[digest] = dataclasses.replace(record, revoked_at=at)
        return record

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None:
        record = self._records.get(key_sha256)
        if record is None:
            return
        if record.last_used_at is None or record.last_used_at < unless_used_since:
            self._records[key_sha256] = dataclasses.replace(record, last_used_at=at)
