"""A form sent twice does its work once: each rendered form carries an ``Idempotency-Key``,
and its POST runs through the use cases' idempotency, as the API's POSTs do.

Kept in this one function so that a change of the idempotency flow changes only it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.responses import RedirectResponse, Response

from export_resend.application.idempotency import (
    BeginIdempotentRequest,
    IdempotencyKeyInUse,
    IdempotentResponse,
    ReleaseIdempotencyKey,
    Replay,
    checked_key,
    fingerprint,
    idempotency_scope,
)
from export_resend.domain.caller import Caller
from export_resend.domain.idempotency import IdempotencyKey, StoredResponse

ResultT = TypeVar("ResultT")

WAIT_FOR_FIRST = 5.0
"""How long a second submit waits for the first to finish, to answer as it did."""
_POLL = 0.1


async def submit_once(
    *,
    begin: BeginIdempotentRequest,
    release: ReleaseIdempotencyKey,
    caller: Caller,
    name: str,
    key: str,
    fields: Any,
    call: Callable[[IdempotentResponse[ResultT] | None], Awaitable[ResultT]],
    redirect_to: Callable[[ResultT], str],
) -> Response:
    """A 303 to ``redirect_to(result)`` of ``call``, or to where the first submit of this
    form (its ``key``, with the same ``fields``) went: then ``call`` is not run again.
    A submit while the first still runs waits for it (``WAIT_FOR_FIRST`` at most).

    Raises ``IdempotencyKeyReused`` for the same form sent with other values, and
    ``IdempotencyKeyInUse`` when the first did not finish in time."""
    scoped = IdempotencyKey(idempotency_scope(caller), name, checked_key(key))
    waited = 0.0
    while True:
        try:
            outcome = await begin(scoped, fingerprint(fields))
            break
        except IdempotencyKeyInUse:
            if waited >= WAIT_FOR_FIRST:
                raise
            await asyncio.sleep(_POLL)
            waited += _POLL
    if isinstance(outcome, Replay):
        return RedirectResponse(dict(outcome.response.headers)["location"], 303)

    def stored(result: ResultT) -> StoredResponse:
        return StoredResponse(303, (("location", redirect_to(result)),), b"")

    try:
        result = await call(IdempotentResponse(outcome, stored))
    except BaseException:
        await asyncio.shield(release(outcome))
        raise
    return RedirectResponse(redirect_to(result), 303)
