"""Idempotency keys: a request sent again under the same key is answered, not run again."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

Result = Mapping[str, Any]
"""What a request's use case recorded of its result: a JSON object (strings without NUL,
numbers, booleans, null, arrays and objects), never the bytes of an answer."""


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key, scoped to the credential (``scope``: the API key's digest) and to the
    request it was sent with (``request``: method and path)."""

    scope: str
    request: str
    value: str


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """One key's state: in flight (held by ``lease_id`` until ``locked_until``), or done
    (with its ``result``, what every retry is answered from); either way kept until
    ``expires_at``."""

    key: IdempotencyKey
    fingerprint: str
    created_at: datetime
    expires_at: datetime
    lease_id: UUID | None = None
    locked_until: datetime | None = None
    result: Result | None = None

    @classmethod
    def begin(
        cls,
        key: IdempotencyKey,
        fingerprint: str,
        *,
        now: datetime,
        retention: timedelta,
        lease_id: UUID,
        lease: timedelta,
    ) -> IdempotencyRecord:
        """A key first seen at ``now``, held by ``lease_id`` while its request runs."""
        return cls(key, fingerprint, now, now + retention, lease_id, now + lease)

    def is_expired(self, now: datetime) -> bool:
        """Past retention: the key is forgotten, as if never used."""
        return now >= self.expires_at

    def is_held(self, now: datetime) -> bool:
        """Its first request is still running (or died less than a lease ago)."""
        return self.result is None and self.locked_until is not None and now < self.locked_until

    def held_by(self, lease_id: UUID) -> bool:
        """Whether ``lease_id`` holds the key and may record its result."""
        return self.result is None and self.lease_id == lease_id

    def retry_after_seconds(self, now: datetime) -> int:
        """Whole seconds until the lease ends (at least 1)."""
        if self.locked_until is None:
            return 1
        return max(1, math.ceil((self.locked_until - now).total_seconds()))

    def taken_over(self, lease_id: UUID, now: datetime, lease: timedelta) -> IdempotencyRecord:
        """Held anew by ``lease_id``: the former holder's lease ran out before it answered."""
        return replace(self, lease_id=lease_id, locked_until=now + lease)

    def completed(self, result: Result) -> IdempotencyRecord:
        """Done: every retry is answered from ``result`` until the key expires."""
        return replace(self, lease_id=None, locked_until=None, result=result)
