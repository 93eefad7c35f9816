"""The ``Idempotency-Key`` header of the POST routes, between HTTP and the use cases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed
from export_resend.application.idempotency import (
    HEADER,
    BeginIdempotentRequest,
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

REPLAYED = "Idempotent-Replayed"
_STORED_HEADERS = ("content-type", "location")
"""The headers of a response that a replay repeats; the rest are made anew."""


def stored(response: Response) -> StoredResponse:
    """What a replay of ``response`` needs: its status, body and meaningful headers."""
    headers = tuple(
        (name, response.headers[name]) for name in _STORED_HEADERS if name in response.headers
    )
    return StoredResponse(response.status_code, headers, bytes(response.body))


def replayed(response: StoredResponse) -> Response:
    """The stored response, marked as a replay."""
    return Response(response.body, response.status, {**dict(response.headers), REPLAYED: "true"})


class IdempotentRequests:
    """Runs a POST with its ``Idempotency-Key``, if it has one: a key seen with the same
    body is answered from the stored response and the use case is not called."""

    def __init__(self, *, begin: BeginIdempotentRequest, release: ReleaseIdempotencyKey) -> None:
        self._begin = begin
        self._release = release

    @staticmethod
    def key_of(request: Request) -> str | None:
        """The request's key, checked (400 for a malformed or repeated header), or ``None``."""
        values = request.headers.getlist(HEADER)
        if not values:
            return None
        if len(values) > 1:
            raise ValidationFailed(
                [FieldIssue(FieldErrorCode.BAD_FORMAT.value, HEADER, "give the header once")]
            )
        return checked_key(values[0])

    async def run(
        self,
        request: Request,
        caller: Caller,
        *,
        name: str,
        body: Any,
        call: Callable[[IdempotentResponse[ResultT] | None], Awaitable[ResultT]],
        respond: Callable[[ResultT], Response],
    ) -> Response:
        """The response to ``call``, which is given what it needs to store that response
        under the request's key (``None`` without a key). ``name`` names the request: its
        method and canonical path."""
        value = self.key_of(request)
        if value is None:
            return respond(await call(None))
        key = IdempotencyKey(idempotency_scope(caller), name, value)
        outcome = await self._begin(key, fingerprint(body))
        if isinstance(outcome, Replay):
            return replayed(outcome.response)
        try:
            result = await call(IdempotentResponse(outcome, lambda r: stored(respond(r))))
        except BaseException:
            # cancelled too (a shutdown): give the key back rather than hold it a whole lease
            await asyncio.shield(self._release(outcome))
            raise
        return respond(result)


__all__ = ["REPLAYED", "IdempotentRequests", "replayed", "stored"]
