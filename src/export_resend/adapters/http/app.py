"""The Starlette application: routes that authenticate, validate, call a use case, answer."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from export_resend.adapters.http.access import RequestContext
from export_resend.adapters.http.body import MAX_BODY_BYTES, read_json_object
from export_resend.adapters.http.idempotency import IdempotentRequests
from export_resend.adapters.http.openapi import OPENAPI_PATH, OpenApiEndpoint, openapi_document
from export_resend.adapters.http.operations import OperationsEndpoints
from export_resend.adapters.http.problems import exception_handlers
from export_resend.adapters.http.schemas import (
    ExportEmailsResponse,
    ExportListResponse,
    ExportRequestedResponse,
    ExportResponse,
    ResendEmailResponse,
)
from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.check_readiness import CheckReadiness
from export_resend.application.download_export import DownloadExport
from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed
from export_resend.application.get_export import GetExport
from export_resend.application.idempotency import BeginIdempotentRequest, ReleaseIdempotencyKey
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports, ListExportsCommand
from export_resend.application.request_export import (
    COMMANDS,
    ExportRequested,
    RequestExport,
    command_fields,
)
from export_resend.application.resend_export_email import (
    ResendExportEmail,
    ResendExportEmailCommand,
)
from export_resend.application.scrape_metrics import ScrapeMetrics
from export_resend.application.telemetry import NO_METRICS, RequestMetrics
from export_resend.application.validation import validate
from export_resend.domain.caller import Caller
from export_resend.domain.export import ExportType

log = logging.getLogger(__name__)

AppLifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
Identify = Callable[[Request], Awaitable[Caller]]
"""Who makes a request: a ``Caller``, or ``Unauthenticated`` / ``ClientNotAllowed``."""

_RESEND_FIELDS = {"cc"}
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
"""The UUID string of RFC 9562 (OpenAPI's ``format: uuid``), hex digits in either case.
``uuid.UUID`` alone reads far more: braces, ``urn:uuid:``, hyphens anywhere or none, a sign,
white space, ``_`` and any Unicode digit."""

EXPORT_ROUTES = {
    "transactions": ExportType.TRANSACTION_EVENTS,
    "supplier-payouts": ExportType.SUPPLIER_PAYOUTS,
    "funding-transfers": ExportType.FUNDING_TRANSFERS,
    "marketplace-payouts": ExportType.MARKETPLACE_PAYOUTS,
}
"""``POST /v1/payments/{name}/export`` requests an export of this type."""


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(by_alias=True), status, media_type="application/json")


def _export_id(request: Request) -> UUID:
    raw = request.path_params["export_id"]
    if not _UUID.fullmatch(raw):
        raise ValidationFailed(
            [FieldIssue(FieldErrorCode.BAD_FORMAT.value, "exportId", "must be a UUID")]
        )
    return UUID(raw)


def _ignored(body: dict[str, object], known: frozenset[str] | set[str]) -> list[FieldIssue]:
    return [
        FieldIssue("FIELD_IGNORED", name, "not a field of this request; ignored")
        for name in body
        if name not in known
    ]


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
    """The export routes, each a thin translation between HTTP and one use case."""

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
        export_types: Collection[ExportType] = tuple(ExportType),
        max_body_bytes: int = MAX_BODY_BYTES,
        check_public_url: Callable[[str], None] = lambda root_path: None,
    ) -> None:
        self._identify = identify
        self._export_types = export_types
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

    async def resend_email(self, request: Request) -> Response:
        caller = await self._caller(request)
        export_id = _export_id(request)
        self._idempotent.key_of(request)
        body = await read_json_object(request, self._max_body_bytes) or {}
        ignored = _ignored(body, _RESEND_FIELDS)
        fields = {name: value for name, value in body.items() if name in _RESEND_FIELDS}
        command = validate(ResendExportEmailCommand, {**fields, "exportId": export_id})
        return await self._idempotent.run(
            request,
            caller,
            name=f"POST /v1/exports/{export_id}/resend-email",
            body=body,
            call=lambda idempotency: self._resend_export_email(
                caller, command, idempotency=idempotency
            ),
            respond=lambda receipt: _json(ResendEmailResponse.of(receipt, ignored)),
        )

    async def get(self, request: Request) -> Response:
        caller = await self._caller(request)
        details = await self._get_export(caller, _export_id(request))
        return _json(ExportResponse.of(details))

    async def emails(self, request: Request) -> Response:
        caller = await self._caller(request)
        history = await self._list_export_emails(caller, _export_id(request))
        return _json(ExportEmailsResponse.of(history))

    def request_export(
        self, name: str, export_type: ExportType
    ) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint that requests exports of ``export_type``, at ``name``'s route."""

        async def endpoint(request: Request) -> Response:
            return await self._request(request, name, export_type)

        return endpoint

    async def _request(self, request: Request, name: str, export_type: ExportType) -> Response:
        caller = await self._caller(request)
        self._request_export.check_allowed(caller, export_type)
        self._idempotent.key_of(request)
        body = await read_json_object(request, self._max_body_bytes) or {}
        known = command_fields(export_type)
        fields = {name: value for name, value in body.items() if name in known}
        command = validate(COMMANDS[export_type], fields)
        ignored = _ignored(body, known)

        def respond(requested: ExportRequested) -> Response:
            response = _json(ExportRequestedResponse.of(requested, ignored), 202)
            root = request.scope.get("root_path", "")
            response.headers["Location"] = f"{root}/v1/exports/{requested.export.id}"
            return response

        return await self._idempotent.run(
            request,
            caller,
            name=f"POST /v1/payments/{name}/export",
            body=body,
            call=lambda idempotency: self._request_export(
                caller, export_type, command, idempotency=idempotency
            ),
            respond=respond,
        )

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

    def routes(self) -> list[Route]:
        return [
            *(
                Route(
                    f"/v1/payments/{name}/export",
                    self.request_export(name, export_type),
                    methods=["POST"],
                    name=f"request-{name}-export",
                )
                for name, export_type in EXPORT_ROUTES.items()
                if export_type in self._export_types
            ),
            Route("/v1/exports", self.history, methods=["GET"], name="list-exports"),
            Route(
                "/v1/exports/{export_id}/download",
                self.download,
                methods=["GET"],
                name="download-export",
            ),
            Route(
                "/v1/exports/{export_id}/resend-email",
                self.resend_email,
                methods=["POST"],
                name="ADM-EXPORT-200",
            ),
            Route("/v1/exports/{export_id}", self.get, methods=["GET"], name="get-export"),
            Route(
                "/v1/exports/{export_id}/emails",
                self.emails,
                methods=["GET"],
                name="list-export-emails",
            ),
        ]


def create_http_app(
    *,
    authenticate: AuthenticateCaller | None = None,
    identify: Identify | None = None,
    resend_export_email: ResendExportEmail,
    get_export: GetExport,
    list_export_emails: ListExportEmails,
    request_export: RequestExport,
    list_exports: ListExports,
    download_export: DownloadExport,
    begin_idempotent_request: BeginIdempotentRequest,
    release_idempotency_key: ReleaseIdempotencyKey,
    lifespan: AppLifespan | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    check_readiness: CheckReadiness | None = None,
    scrape_metrics: ScrapeMetrics | None = None,
    request_metrics: RequestMetrics = NO_METRICS,
    export_types: Collection[ExportType] = tuple(ExportType),
    public_base_url: str | None = None,
    more_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The HTTP service over the given use cases; it opens nothing until ``lifespan`` runs.

    Callers are identified by ``identify`` (a host's own identity), or else by API key
    through ``authenticate``. Only the ``export_types`` given have a route to request them.
    Mounted under a prefix, ``Location`` and the document's ``servers`` follow it; a prefix
    missing from ``public_base_url``'s path is warned about once.

    ``/livez`` and ``/readyz`` (which checks nothing without ``check_readiness``) are always
    served, ``/metrics`` only with ``scrape_metrics``; every request is counted in
    ``request_metrics`` and logged once (``access.RequestContext``). ``more_routes`` are
    served beside the API (the operator page)."""
    if identify is None:
        if authenticate is None:
            raise TypeError("give authenticate= (API keys) or identify= (your own identity)")
        identify = api_key_identity(authenticate)
    served = {name: t for name, t in EXPORT_ROUTES.items() if t in export_types}
    endpoints = ExportEndpoints(
        identify=identify,
        resend_export_email=resend_export_email,
        get_export=get_export,
        list_export_emails=list_export_emails,
        request_export=request_export,
        list_exports=list_exports,
        download_export=download_export,
        idempotent=IdempotentRequests(
            begin=begin_idempotent_request, release=release_idempotency_key
        ),
        export_types=frozenset(export_types),
        max_body_bytes=max_body_bytes,
        check_public_url=PublicUrlCheck(public_base_url),
    )
    operations = OperationsEndpoints(check_readiness=check_readiness, scrape_metrics=scrape_metrics)
    openapi = OpenApiEndpoint(lambda: openapi_document(served, metrics=scrape_metrics is not None))
    routes = [
        *endpoints.routes(),
        *operations.routes(),
        Route(OPENAPI_PATH, openapi.get, methods=["GET"], name="openapi"),
        *more_routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext, routes=routes, metrics=request_metrics)],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a path with a stray "/" is a 404 problem, not a 307
    return app


__all__ = ["AppLifespan", "ExportEndpoints", "Identify", "api_key_identity", "create_http_app"]
