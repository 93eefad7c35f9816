"""The export endpoints, each a thin translation between HTTP and one use case.

Where each is served, and how the document describes it, is ``routes.py``'s: an endpoint
that needs its route's path (the name of an idempotent request) is given it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from export_resend.adapters.http.body import MAX_BODY_BYTES, read_json_object
from export_resend.adapters.http.idempotency import (
    IdempotentRequests,
    idempotency_key,
    mark_replayed,
)
from export_resend.adapters.http.schemas import (
    ExportEmailsResponse,
    ExportListResponse,
    ExportRequestedResponse,
    ExportResponse,
    ResendEmailRequest,
    ResendEmailResponse,
)
from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.download_export import DownloadExport
from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed
from export_resend.application.get_export import GetExport
from export_resend.application.idempotency import Replay
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports, ListExportsCommand
from export_resend.application.request_export import (
    ExportRequestSummary,
    RequestExport,
    command_fields,
    command_of,
)
from export_resend.application.resend_export_email import (
    ResendExportEmail,
    ResendExportEmailCommand,
    ResendSummary,
)
from export_resend.application.validation import validate
from export_resend.domain.caller import Caller
from export_resend.domain.export import ExportType

log = logging.getLogger(__name__)

Identify = Callable[[Request], Awaitable[Caller]]
"""Who makes a request: a ``Caller``, or ``Unauthenticated`` / ``ClientNotAllowed``."""

EXPORT_ID = "export_id"
"""The path parameter that names an export (``exportId`` in the document)."""
RESEND_FIELDS = frozenset(
    info.alias or name for name, info in ResendEmailRequest.model_fields.items()
)
"""The body members a resend reads: those its documented body has."""
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
"""The UUID string of RFC 9562 (OpenAPI's ``format: uuid``), hex digits in either case.
``uuid.UUID`` alone reads far more: braces, ``urn:uuid:``, hyphens anywhere or none, a sign,
white space, ``_`` and any Unicode digit."""


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        model.model_dump_json(by_alias=True), status, headers, media_type="application/json"
    )


def _export_id(request: Request) -> UUID:
    raw = request.path_params[EXPORT_ID]
    if not _UUID.fullmatch(raw):
        raise ValidationFailed(
            [FieldIssue(FieldErrorCode.BAD_FORMAT.value, "exportId", "must be a UUID")]
        )
    return UUID(raw)


def _ignored(body: dict[str, object], known: frozenset[str]) -> list[FieldIssue]:
    return [
        FieldIssue("FIELD_IGNORED", name, "not a field of this request; ignored")
        for name in body
        if name not in known
    ]


def _resent(
    request: Request, summary: ResendSummary, ignored: list[FieldIssue], replayed: bool = False
) -> Response:
    """The 200 of a resend, first or replayed: the same body either way."""
    headers = mark_replayed(request.scope) if replayed else None
    return _json(ResendEmailResponse.of(summary, ignored), headers=headers)


def _queued(
    request: Request,
    summary: ExportRequestSummary,
    ignored: list[FieldIssue],
    export_path: str,
    replayed: bool = False,
) -> Response:
    """The 202 of an export request, first or replayed: the same body and ``Location``, the
    export's ``export_path`` under the app's prefix."""
    root = request.scope.get("root_path", "")
    headers = {"Location": root + export_path.format_map({EXPORT_ID: summary.export_id})}
    if replayed:
        headers.update(mark_replayed(request.scope))
    return _json(ExportRequestedResponse.of(summary, ignored), 202, headers)


def _credential(request: Request, name: str) -> str | None:
    # A header sent twice is read as its lines joined, as RFC 9110 section 5.3 lets a
    # recipient do: two keys never make one valid key, whichever copy a proxy checked.
    values = request.headers.getlist(name)
    return ", ".join(values) if values else None


def api_key_identity(authenticate: AuthenticateCaller) -> Identify:
    """Callers from the ``dj-api-key`` and ``dj-client`` headers."""

    async def identify(request: Request) -> Caller:
        return await authenticate(
            _credential(request, "dj-api-key"), _credential(request, "dj-client")
        )

    return identify


class PublicUrlCheck:
    """Warns once per mount prefix that is not at the end of the public base URL's path:
    links in emails, minted in the background, cannot see the request's prefix."""

    def __init__(self, public_base_url: str | None) -> None:
        path = urlsplit(public_base_url).path.rstrip("/") if public_base_url else None
        self._path = path
        self._seen: set[str] = set()

    def __call__(self, root_path: str) -> None:
        if self._path is None or root_path in self._seen:
            return
        self._seen.add(root_path)
        if not self._path.endswith(root_path.rstrip("/")):
            log.warning(
                "mounted under %r, but EXPORT_RESEND_PUBLIC_BASE_URL's path is %r:"
                " download links in emails will miss the prefix",
                root_path,
                self._path or "/",
            )


class ExportEndpoints:
    """The export routes: authenticate, validate, call a use case, answer."""

    def __init__(
        self,
        *,
        identify: Identify,
        resend_export_email: ResendExportEmail,
        get_export: GetExport,
        list_export_emails: ListExportEmails,
        request_export: RequestExport,
        list_exports: ListExports,
        download_export: DownloadExport,
        idempotent: IdempotentRequests,
        max_body_bytes: int = MAX_BODY_BYTES,
        check_public_url: Callable[[str], None] = lambda root_path: None,
    ) -> None:
        self._identify = identify
        self._check_public_url = check_public_url
        self._idempotent = idempotent
        self._resend_export_email = resend_export_email
        self._get_export = get_export
        self._list_export_emails = list_export_emails
        self._request_export = request_export
        self._list_exports = list_exports
        self._download_export = download_export
        self._max_body_bytes = max_body_bytes

    async def _caller(self, request: Request) -> Caller:
        self._check_public_url(request.scope.get("root_path", ""))
        return await self._identify(request)

    async def _body(
        self, request: Request, known: frozenset[str]
    ) -> tuple[dict[str, object], dict[str, object], list[FieldIssue]]:
        """The body (``{}`` for none), the members the request reads, and a warning for each
        other member."""
        body = await read_json_object(request, self._max_body_bytes) or {}
        fields = {name: value for name, value in body.items() if name in known}
        return body, fields, _ignored(body, known)

    async def resend_email(self, request: Request, path: str) -> Response:
        """``POST`` ``path``: queue the export's email again."""
        caller = await self._caller(request)
        export_id = _export_id(request)
        key = idempotency_key(request)
        body, fields, ignored = await self._body(request, RESEND_FIELDS)
        command = validate(ResendExportEmailCommand, {**fields, "exportId": export_id})
        name = "POST " + path.format_map({EXPORT_ID: export_id})
        began = await self._idempotent.begin(caller, name, key, body)
        if isinstance(began, Replay):
            return _resent(request, ResendSummary.from_data(began.result), ignored, True)
        async with self._idempotent.releasing(began):
            receipt = await self._resend_export_email(caller, command, idempotency=began)
        return _resent(request, receipt.summary, ignored)

    async def request_export(
        self, request: Request, export_type: ExportType, path: str, export_path: str
    ) -> Response:
        """``POST`` ``path``: queue an export of ``export_type``, to be found at
        ``export_path``."""
        caller = await self._caller(request)
        self._request_export.check_allowed(caller, export_type)
        key = idempotency_key(request)
        body, fields, ignored = await self._body(request, command_fields(export_type))
        command = validate(command_of(export_type), fields)
        began = await self._idempotent.begin(caller, f"POST {path}", key, body)
        if isinstance(began, Replay):
            summary = ExportRequestSummary.from_data(began.result)
            return _queued(request, summary, ignored, export_path, True)
        async with self._idempotent.releasing(began):
            requested = await self._request_export(caller, export_type, command, idempotency=began)
        return _queued(request, requested.summary, ignored, export_path)

    async def get(self, request: Request) -> Response:
        caller = await self._caller(request)
        details = await self._get_export(caller, _export_id(request))
        return _json(ExportResponse.of(details))

    async def emails(self, request: Request) -> Response:
        caller = await self._caller(request)
        history = await self._list_export_emails(caller, _export_id(request))
        return _json(ExportEmailsResponse.of(history))

    async def history(self, request: Request) -> Response:
        caller = await self._caller(request)
        command = validate(ListExportsCommand, dict(request.query_params))
        return _json(ExportListResponse.of(await self._list_exports(caller, command)))

    async def download(self, request: Request) -> Response:
        export_id = _export_id(request)
        tokens = request.query_params.getlist("token")
        if len(tokens) > 1:
            # like a credential header sent twice: never let one copy vouch for the other
            raise ValidationFailed(
                [FieldIssue(FieldErrorCode.BAD_FORMAT.value, "token", "the token is given twice")]
            )
        token = tokens[0] if tokens else None
        if not token:
            raise ValidationFailed(
                [FieldIssue(FieldErrorCode.MISSING.value, "token", "the link's token is missing")]
            )
        download = await self._download_export(export_id, token)
        return StreamingResponse(
            download.chunks,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{download.filename}"',
                "Content-Length": str(download.file.size_bytes),
                "ETag": f'"{download.file.sha256}"',
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )


__all__ = ["ExportEndpoints", "Identify", "PublicUrlCheck", "api_key_identity"]
