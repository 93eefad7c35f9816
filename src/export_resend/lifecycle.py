"""Whether the service is running, and the storage that refuses to be used before it is.

``ExportResend.running()`` (or the application's own lifespan) opens the storage and starts
the background work. Until then, every use of the storage raises ``ServiceNotRunning``, so
that a host that mounted the app and forgot its lifespan gets a 503 that says so, never a
202 for an export that nothing will generate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from export_resend.application.errors import ServiceNotRunning
from export_resend.application.sessions import OperatorSession, SessionStore
from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.ports import ApiKeyStore, DatabaseProbe, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("export_resend")


class Lifecycle:
    """Whether the service runs: ``running()`` entered (perhaps by nested blocks, of which
    the outermost opens and closes the resources) and not yet left by all."""

    def __init__(self) -> None:
        self._blocks = 0
        self._held = False
        self._warned = False

    @property
    def running(self) -> bool:
        return self._blocks > 0 or self._held

    def enter(self) -> bool:
        """Count one more block in; ``True`` for the first, which opens the resources."""
        self._blocks += 1
        return self._blocks == 1

    def leave(self) -> None:
        """Count one block out."""
        if self._blocks == 0:
            raise RuntimeError("left more often than entered")
        self._blocks -= 1

    def hold_open(self) -> None:
        """Let the storage be used with no block in: for storage with nothing to open (a
        test's in-memory world), never for a real service."""
        self._held = True

    def check(self) -> None:
        """Raise ``ServiceNotRunning`` unless running; the first refusal is logged."""
        if self.running:
            return
        refusal = ServiceNotRunning()
        if not self._warned:
            self._warned = True
            log.error("%s", refusal)
        raise refusal


class OpenedUnitOfWork(UnitOfWorkFactory):
    """Units of work from ``factory``, only while ``lifecycle`` runs."""

    def __init__(self, factory: UnitOfWorkFactory, lifecycle: Lifecycle) -> None:
        self._factory = factory
        self._lifecycle = lifecycle

    def __call__(self) -> UnitOfWork:
        self._lifecycle.check()
        return self._factory()


class OpenedApiKeyStore(ApiKeyStore):
    """``inner``, only while ``lifecycle`` runs."""

    def __init__(self, inner: ApiKeyStore, lifecycle: Lifecycle) -> None:
        self._inner = inner
        self._lifecycle = lifecycle

    async def find_caller(self, key_sha256: str) -> Caller | None:
        self._lifecycle.check()
        return await self._inner.find_caller(key_sha256)

    async def add(self, key_sha256: str, record: ApiKeyRecord) -> None:
        self._lifecycle.check()
        await self._inner.add(key_sha256, record)

    async def list(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]:
        self._lifecycle.check()
        return await self._inner.list(tenant_id)

    async def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord:
        self._lifecycle.check()
        return await self._inner.revoke(key_id, at)

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None:
        self._lifecycle.check()
        await self._inner.record_use(key_sha256, at, unless_used_since=unless_used_since)


class OpenedSessionStore(SessionStore):
    """``inner``, only while ``lifecycle`` runs."""

    def __init__(self, inner: SessionStore, lifecycle: Lifecycle) -> None:
        self._inner = inner
        self._lifecycle = lifecycle

    async def add(self, session: OperatorSession) -> None:
        self._lifecycle.check()
        await self._inner.add(session)

    async def get(self, token_sha256: str) -> OperatorSession | None:
        self._lifecycle.check()
        return await self._inner.get(token_sha256)

    async def set_expiry(self, token_sha256: str, expires_at: datetime) -> None:
        self._lifecycle.check()
        await self._inner.set_expiry(token_sha256, expires_at)

    async def remove(self, token_sha256: str) -> None:
        self._lifecycle.check()
        await self._inner.remove(token_sha256)

    async def purge(self, now: datetime) -> int:
        self._lifecycle.check()
        return await self._inner.purge(now)


class MissingApiKeyStore(ApiKeyStore):
    """No key store: a host that identifies its callers itself has none. Nobody is found
    by a key; anything else is refused, saying what to give."""

    _REFUSAL = "this service has no API key store: give ExportResend(api_keys=...)"

    async def find_caller(self, key_sha256: str) -> Caller | None:
        return None

    async def add(self, key_sha256: str, record: ApiKeyRecord) -> None:
        raise RuntimeError(self._REFUSAL)

    async def list(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]:
        raise RuntimeError(self._REFUSAL)

    async def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord:
        raise RuntimeError(self._REFUSAL)

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None:
        return None


class OpenedProbe(DatabaseProbe):
    """``inner``'s ping, only while ``lifecycle`` runs."""

    def __init__(self, inner: DatabaseProbe, lifecycle: Lifecycle) -> None:
        self._inner = inner
        self._lifecycle = lifecycle

    async def ping(self) -> None:
        self._lifecycle.check()
        await self._inner.ping()


class UnitOfWorkProbe(DatabaseProbe):
    """A ping through a host's own unit of work: it opens one and reads an unknown export."""

    def __init__(self, unit_of_work: UnitOfWorkFactory) -> None:
        self._unit_of_work = unit_of_work

    async def ping(self) -> None:
        async with self._unit_of_work() as uow:
            await uow.exports.get(UUID(int=0))
