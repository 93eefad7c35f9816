"""Idempotency keys: a retried request is answered with the first response, never run twice.

A request with a key first *begins*: the key is reserved in its own short transaction
(``BeginIdempotentRequest``). The use case then runs, and records its response under the
key **in the same transaction as its effect** (``IdempotentResponse.record``), so that a
crash can never leave an effect without its stored response, or the reverse. A request
that fails records nothing and gives its key back (``ReleaseIdempotencyKey``), so a retry
with the same key runs again. A holder that died mid-request holds the key until its lease
ends; then a retry takes it over.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from export_resend.application.errors import (
    ApplicationError,
    FieldErrorCode,
    FieldIssue,
    ValidationFailed,
)
from export_resend.domain.caller import Caller
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord, StoredResponse
from export_resend.domain.ports import Clock, DuplicateId, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
HEADER = "Idempotency-Key"
_PRINTABLE = frozenset(range(0x20, 0x7F))

ResultT = TypeVar("ResultT")


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


def checked_key(value: str) -> str:
    """``value`` if it can be an idempotency key (1 to 255 printable ASCII characters);
    otherwise ``ValidationFailed`` naming the header."""
    if not value:
        code, reason = FieldErrorCode.MISSING, "must not be empty"
    elif len(value) > MAX_KEY_LENGTH:
        code, reason = FieldErrorCode.SIZE_LIMIT_EXCEEDED, f"at most {MAX_KEY_LENGTH} characters"
    elif not all(ord(c) in _PRINTABLE for c in value):
        code, reason = FieldErrorCode.BAD_FORMAT, "printable ASCII characters only"
    else:
        return value
    raise ValidationFailed([FieldIssue(code.value, HEADER, reason)])


def idempotency_scope(caller: Caller) -> str:
    """Whose keys are one namespace: the API key's digest, or for a caller a host made from
    its own identity, a digest of its tenant and user."""
    if caller.credential is not None:
        return caller.credential
    return hashlib.sha256(f"user\0{caller.tenant_id}\0{caller.user_id}".encode()).hexdigest()


def fingerprint(body: Any) -> str:
    """The SHA-256 of ``body`` (parsed JSON) in canonical form: the same request sent with
    other spacing or key order has the same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds ``key`` (until its lease ends) and may record its response."""

    key: IdempotencyKey
    lease_id: UUID


@dataclass(frozen=True, slots=True)
class Replay:
    """The key's request already succeeded: answer with ``response`` and do nothing."""

    response: StoredResponse


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
                    if record.response is not None:
                        return Replay(record.response)
                    if record.is_held(now):
                        raise IdempotencyKeyInUse(record.retry_after_seconds(now))
                    await uow.idempotency.update(record.taken_over(lease_id, now, self._lease))
                    await uow.commit()
                    return Claim(key, lease_id)
            except DuplicateId:
                continue
        raise IdempotencyKeyInUse(1)


@dataclass(frozen=True, slots=True)
class IdempotentResponse(Generic[ResultT]):
    """What a use case needs to store its response under a claimed key: the claim, and how
    its result is answered (``respond``, given by the caller: the HTTP adapter)."""

    claim: Claim
    respond: Callable[[ResultT], StoredResponse]

    async def record(self, uow: UnitOfWork, result: ResultT) -> StoredResponse:
        """Store the response to ``result`` in ``uow``, before it commits; raise
        ``IdempotencyKeyInUse`` (and so roll the effect back) if the key was taken over."""
        response = self.respond(result)
        record = await uow.idempotency.get(self.claim.key, lock=True)
        if record is None or not record.held_by(self.claim.lease_id):
            raise IdempotencyKeyInUse(1)
        await uow.idempotency.update(record.completed(response))
        return response


class ReleaseIdempotencyKey:
    """Give a claimed key back, unanswered, after its request failed: the next request with
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
