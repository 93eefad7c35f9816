"""The ``Idempotency-Key`` header of the POST routes: read once, claimed, given back on failure.

A request with a key begins (``BeginIdempotentRequest``): a ``Claim`` goes to the use case,
which records its own result under the key with its effect; a ``Replay`` is the result a
first request recorded, which the endpoint answers with the same function as a fresh one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed
from export_resend.application.idempotency import (
    BeginIdempotentRequest,
    Claim,
    ReleaseIdempotencyKey,
    Replay,
    fingerprint,
    idempotency_scope,
)
from export_resend.domain.caller import Caller
from export_resend.domain.idempotency import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_CHARACTERS = (0x20, 0x7E)
"""A key is printable ASCII: from this character to that one, both included."""
KEY_PATTERN = "^[{1}-{2}]([{0}-{2}]*[{1}-{2}])?$".format(
    chr(KEY_CHARACTERS[0]), chr(KEY_CHARACTERS[0] + 1), chr(KEY_CHARACTERS[1])
)
"""A key as a header carries it: HTTP strips white space at either end of a value, so no key
can begin or end with a space."""
_PRINTABLE = frozenset(range(KEY_CHARACTERS[0], KEY_CHARACTERS[1] + 1))
_REPLAYED_SCOPE = "export_resend.replayed"


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


def idempotency_key(request: Request) -> str | None:
    """The request's key, checked (400 for a malformed or repeated header), or ``None``."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise ValidationFailed(
            [FieldIssue(FieldErrorCode.BAD_FORMAT.value, HEADER, "give the header once")]
        )
    return checked_key(values[0])


def mark_replayed(scope: Scope) -> dict[str, str]:
    """The header of a replayed answer; the access line learns of it from ``scope``."""
    scope[_REPLAYED_SCOPE] = True
    return {REPLAYED: "true"}


def was_replayed(scope: Scope) -> bool:
    """Whether the request was answered from a recorded result."""
    return bool(scope.get(_REPLAYED_SCOPE))


class IdempotentRequests:
    """Begins a POST that carries a key, and gives the key back if the request fails."""

    def __init__(self, *, begin: BeginIdempotentRequest, release: ReleaseIdempotencyKey) -> None:
        self._begin = begin
        self._release = release

    async def begin(
        self, caller: Caller, request: str, key: str | None, body: Any
    ) -> Claim | Replay | None:
        """``None`` without a key; else the key's claim, or the replay of its first request's
        result. ``request`` names the request: its method and canonical path."""
        if key is None:
            return None
        return await self._begin(
            IdempotencyKey(idempotency_scope(caller), request, key), fingerprint(body)
        )

    @asynccontextmanager
    async def releasing(self, claim: Claim | None) -> AsyncIterator[None]:
        """Give ``claim`` back if the block fails: an error records nothing."""
        try:
            yield
        except BaseException:
            if claim is not None:
                # cancelled too (a shutdown): give the key back rather than hold it a lease
                await asyncio.shield(self._release(claim))
            raise


__all__ = [
    "HEADER",
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "REPLAYED",
    "IdempotentRequests",
    "checked_key",
    "idempotency_key",
    "mark_replayed",
    "was_replayed",
]
