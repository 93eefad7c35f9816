"""A form sent twice does its work once: each rendered form carries an ``Idempotency-Key``,
and its POST runs through the use cases' idempotency, as the API's POSTs do.

Kept in this one function so that a change of the idempotency flow changes only it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.responses import RedirectResponse, Response

from export_resend.application.errors import FieldIssue, ValidationFailed
from export_resend.application.idempotency import (
    BeginIdempotentRequest,
    Claim,
    IdempotencyKeyInUse,
    ReleaseIdempotencyKey,
    Replay,
    fingerprint,
    idempotency_scope,
)
from export_resend.domain.caller import Caller
from export_resend.domain.idempotency import IdempotencyKey, Result

SummaryT = TypeVar("SummaryT")

WAIT_FOR_FIRST = 5.0
"""How long a second submit waits for the first to finish, to answer as it did."""
_POLL = 0.1
_FORM_KEY = re.compile(r"[!-~]{1,255}")


async def submit_once(
    *,
    begin: BeginIdempotentRequest,
    release: ReleaseIdempotencyKey,
    caller: Caller,
    name: str,
    key: str,
    fields: Any,
    call: Callable[[Claim], Awaitable[SummaryT]],
    replayed: Callable[[Result], SummaryT],
    redirect_to: Callable[[SummaryT], str],
) -> Response:
    """A 303 to ``redirect_to`` the summary of what ``call`` did under the form's key, or of
    what the first submit of this form (its ``key``, with the same ``fields``) recorded, read
    back by ``replayed``: then ``call`` is not run again. A submit while the first still
    runs waits for it (``WAIT_FOR_FIRST`` at most).

    Raises ``IdempotencyKeyReused`` for the same form sent with other values, and
    ``IdempotencyKeyInUse`` when the first did not finish in time."""
    if not _FORM_KEY.fullmatch(key):
        raise ValidationFailed(
            [FieldIssue("F-E-012", "idempotency_key", "the form's key is not one of ours")]
        )
    scoped = IdempotencyKey(idempotency_scope(caller), name, key)
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
        return RedirectResponse(redirect_to(replayed(outcome.result)), 303)
    try:
        summary = await call(outcome)
    except BaseException:
        await asyncio.shield(release(outcome))
        raise
    return RedirectResponse(redirect_to(summary), 303)
