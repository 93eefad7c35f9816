"""Idempotency keys: a retried request is answered with the first one's result, never run twice.

A request with a key first *begins*: the key is reserved in its own short transaction
(``BeginIdempotentRequest``), which answers a ``Claim``, or a ``Replay`` of the result a
first request recorded. Given the claim, the use case runs and records its own result under
the key, as data, **in the same transaction as its effect** (``Claim.record``), so that a
crash can never leave an effect without its recorded result, or the reverse. A request that
fails records nothing and gives its key back (``ReleaseIdempotencyKey``), so a retry with the
same key runs again. A holder that died mid-request holds the key until its lease ends; then
a retry takes it over.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from export_resend.application.errors import ApplicationError
from export_resend.domain.caller import Caller
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord, Result
from export_resend.domain.ports import Clock, DuplicateId, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class IdempotencyKeyReused(ApplicationError):
    """The key was used before, with another body."""

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with another request body")


class IdempotencyKeyInUse(ApplicationError):
    """The first request with this key is still running; ``retry_after_seconds`` at most."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "a request with this Idempotency-Key is still in progress;"
            f" retry in {retry_after_seconds} s"
        )
        self.retry_after_seconds = retry_after_seconds


def idempotency_scope(caller: Caller) -> str:
    """Whose keys are one namespace: the API key's digest, or for a caller a host made from
    its own identity, a digest of its tenant and user."""
    if caller.credential is not None:
        return caller.credential
    return hashlib.sha256(f"user\0{caller.tenant_id}\0{caller.user_id}".encode()).hexdigest()


def fingerprint(body: Any) -> str:
    """The SHA-256 of ``body`` (a request's parsed JSON) in canonical form: the same request
    sent with other spacing or key order has the same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds ``key`` (until its lease ends) and may record its result."""

    key: IdempotencyKey
    lease_id: UUID

    async def record(self, uow: UnitOfWork, result: Result) -> None:
        """Record ``result`` under the key in ``uow``, before it commits; raise
        ``IdempotencyKeyInUse`` (and so roll the effect back) if the key was taken over."""
        record = await uow.idempotency.get(self.key, lock=True)
        if record is None or not record.held_by(self.lease_id):
            raise IdempotencyKeyInUse(1)
        await uow.idempotency.update(record.completed(result))


@dataclass(frozen=True, slots=True)
class Replay:
    """The key's request already succeeded: answer from the ``result`` it recorded, and do
    nothing."""

    result: Result


class BeginIdempotentRequest:
    """Reserve ``key`` for this request, or say why not.

    Returns a ``Claim`` for a key never seen (or forgotten after its retention, or held by
    a request whose lease ran out); a ``Replay`` when a request with the same fingerprint
    succeeded; raises ``IdempotencyKeyReused`` for another fingerprint and
    ``IdempotencyKeyInUse`` while the first request is running.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        retention: timedelta,
        lease: timedelta,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._retention = retention
        self._lease = lease

    @property
    def retention(self) -> timedelta:
        """How long a key is remembered, from its first use."""
        return self._retention

    async def __call__(self, key: IdempotencyKey, fingerprint: str) -> Claim | Replay:
        lease_id = uuid4()
        for _ in range(2):  # a second pass reads the record of a concurrent first use
            now = self._clock.now()
            try:
                async with self._unit_of_work() as uow:
                    record = await uow.idempotency.get(key, lock=True)
                    if record is None or record.is_expired(now):
                        new = IdempotencyRecord.begin(
                            key,
                            fingerprint,
                            now=now,
                            retention=self._retention,
                            lease_id=lease_id,
                            lease=self._lease,
                        )
                        await (uow.idempotency.add if record is None else uow.idempotency.update)(
                            new
                        )
                        await uow.commit()
                        return Claim(key, lease_id)
                    if record.fingerprint != fingerprint:
                        raise IdempotencyKeyReused()
                    if record.result is not None:
                        return Replay(record.result)
                    if record.is_held(now):
                        raise IdempotencyKeyInUse(record.retry_after_seconds(now))
                    await uow.idempotency.update(record.taken_over(lease_id, now, self._lease))
                    await uow.commit()
                    return Claim(key, lease_id)
            except DuplicateId:
                continue
        raise IdempotencyKeyInUse(1)


class ReleaseIdempotencyKey:
    """Give a claimed key back, without a result, after its request failed: the next request with
    it runs anew. Never raises: a key not given back is free when its lease ends."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory) -> None:
        self._unit_of_work = unit_of_work

    async def __call__(self, claim: Claim) -> None:
        try:
            async with self._unit_of_work() as uow:
                record = await uow.idempotency.get(claim.key, lock=True)
                if record is not None and record.held_by(claim.lease_id):
                    await uow.idempotency.remove(claim.key)
                    await uow.commit()
        except Exception:
            log.warning("an idempotency key could not be released; it frees itself at lease end")


class PurgeIdempotencyKeys:
    """Delete every idempotency key past its retention; returns how many."""

    def __init__(
        self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, batch_size: int = 1000
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._batch_size = batch_size

    async def __call__(self) -> int:
        purged = 0
        while True:
            async with self._unit_of_work() as uow:
                count = await uow.idempotency.purge(self._clock.now(), self._batch_size)
                await uow.commit()
            purged += count
            if count < self._batch_size:
                return purged
