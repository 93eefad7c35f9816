"""Every request gets a request id, one access line in the logs, and its metrics.

The request id is the caller's ``X-Request-Id`` when it is well formed (1 to 128 letters,
digits, ``.``, ``_``, ``:`` or ``-``), else a new one; it is returned as ``X-Request-Id``
and bound, with the export id of the path, to every line logged while the request is
handled (structlog's contextvars, which the log configuration merges into each line).

The access line replaces the server's own (which would print the query string, and so the
download link's token): method, path without the query, route template, status, problem
code and duration. Nothing else of the request is logged: no header, no body.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from export_resend.adapters.http.idempotency import was_replayed
from export_resend.adapters.http.openapi.components import route_path
from export_resend.adapters.http.problems import answered_code, handle_error
from export_resend.adapters.http.routes import RESEND_PATH
from export_resend.application.telemetry import NO_METRICS, RequestMetrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
RESEND_ROUTE = route_path(RESEND_PATH)
"""The route whose answers are counted as resend outcomes."""
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(scope: Scope) -> str:
    """The caller's request id if it is well formed, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _WELL_FORMED.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class _Answer:
    """What the application answered, as seen passing by."""

    def __init__(self) -> None:
        self.status = 0
        self.started = False
        self.finished = False

    def start(self, message: Message) -> None:
        self.started = True
        self.status = message["status"]

    def body(self, message: Message) -> None:
        self.finished = not message.get("more_body", False)


class RequestContext:
    """ASGI middleware: request id, log context, access line and request metrics.

    An error that escapes the application is logged here, with the request's context, and
    answered with the 500 problem (and the request id), unless the response had already
    begun, in which case it is logged and raised on, for the server to break off.
    """

    def __init__(
        self, app: ASGIApp, *, routes: Sequence[BaseRoute], metrics: RequestMetrics = NO_METRICS
    ) -> None:
        self._app = app
        self._routes = routes
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        rid = request_id(scope)
        answer = _Answer()

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
                answer.start(message)
            elif message["type"] == "http.response.body":
                answer.body(message)
            await send(message)

        started = time.perf_counter()
        with bound_contextvars(**self._context(scope, rid)):
            try:
                await self._app(scope, receive, send_answer)
            except Exception as exc:
                log.exception("the request failed: %s", type(exc).__name__)
                if answer.started:
                    raise
                response = await handle_error(Request(scope), exc)
                await response(scope, receive, send_answer)
            finally:
                self._answered(scope, answer, time.perf_counter() - started)

    def _context(self, scope: Scope, rid: str) -> dict[str, Any]:
        context: dict[str, Any] = {"request_id": rid}
        for route in self._routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                raw = child.get("path_params", {}).get("export_id")
                with contextlib.suppress(TypeError, ValueError):
                    context["export_id"] = str(uuid.UUID(raw))
                break
        return context

    def _answered(self, scope: Scope, answer: _Answer, seconds: float) -> None:
        method = scope["method"]
        route = getattr(scope.get("route"), "path", None)
        status = answer.status or 500
        code = answered_code(scope)
        log.info(
            "%s %s %d",
            method,
            scope["path"],
            status,
            extra={
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "code": code,
                "duration_ms": round(seconds * 1000, 1),
                "completed": answer.finished,
            },
        )
        self._metrics.request_handled(method, route, status, seconds)
        if route == RESEND_ROUTE and method == "POST":
            if was_replayed(scope):
                outcome = "replayed"
            elif 200 <= status < 300:
                outcome = "accepted"
            else:
                outcome = code or str(status)
            self._metrics.resend_answered(outcome)
