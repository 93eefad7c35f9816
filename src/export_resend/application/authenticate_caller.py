"""Tell who is calling from the ``dj-api-key`` and ``dj-client`` headers."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import datetime, timedelta

from export_resend.application.errors import ClientNotAllowed, Unauthenticated
from export_resend.domain.api_keys import ApiKey, MalformedApiKey
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore, Clock

log = logging.getLogger(__name__)

USE_RECORD_INTERVAL = timedelta(minutes=1)
"""A key's ``last_used_at`` is written at most this often."""


def hash_api_key(api_key: str) -> str:
    """The SHA-256 hex digest under which a key is stored; the key itself never is."""
    return hashlib.sha256(api_key.encode()).hexdigest()


class AuthenticateCaller:
    """Raise ``Unauthenticated`` for a missing, malformed or unknown key, ``ClientNotAllowed``
    for a ``dj-client`` that is not the key's user's client type; otherwise return the caller.

    A malformed key (not ``erk_…``, or a wrong checksum) is refused before the store is asked.
    The key's use is recorded at most once per ``use_interval`` by this process (and once per
    interval by all of them, the store's condition deciding); a failure to record it is
    logged, never raised.
    """

    def __init__(
        self,
        *,
        api_keys: ApiKeyStore,
        clock: Clock,
        use_interval: timedelta = USE_RECORD_INTERVAL,
    ) -> None:
        self._api_keys = api_keys
        self._clock = clock
        self._use_interval = use_interval
        # by digest; only keys that found a caller enter, so it holds at most the stored keys
        self._recorded: dict[str, datetime] = {}

    async def __call__(self, api_key: str | None, client: str | None) -> Caller:
        if not api_key or not client:
            raise Unauthenticated("the dj-api-key and dj-client headers are required")
        try:
            key = ApiKey.parse(api_key)
        except MalformedApiKey:
            raise Unauthenticated("the API key is not valid") from None
        return await self.by_digest(key.sha256, client, key_id=key.key_id)

    async def by_digest(self, key_sha256: str, client: str, *, key_id: str | None) -> Caller:
        """The same check for a key known by its digest alone: what a session of the
        operator page keeps, so that a revoked key ends its sessions as it ends API calls."""
        caller = await self._api_keys.find_caller(key_sha256)
        if caller is None:
            raise Unauthenticated("the API key is not valid")
        if client != caller.client_type.value:
            raise ClientNotAllowed("the dj-client header does not match this API key's client")
        await self._record_use(key_sha256, key_id)
        return dataclasses.replace(caller, credential=key_sha256)

    async def _record_use(self, key_sha256: str, key_id: str | None) -> None:
        now = self._clock.now()
        since = now - self._use_interval
        last = self._recorded.get(key_sha256)
        if last is not None and last > since:
            return
        self._recorded[key_sha256] = now
        try:
            await self._api_keys.record_use(key_sha256, now, unless_used_since=since)
        except Exception as exc:
            # the caller is authenticated, and this is only a statistic: never fail for it;
            # log the type only, since a driver's message may quote the statement's parameters
            log.warning(
                "the use of API key %s could not be recorded (%s)", key_id, type(exc).__name__
            )
