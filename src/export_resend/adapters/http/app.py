"""The Starlette applications: the routes ``routes.py`` declares, bound to their endpoints,
behind the request middleware and the problem handlers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from export_resend.adapters.http.access import RequestContext
from export_resend.adapters.http.body import MAX_BODY_BYTES
from export_resend.adapters.http.exports import (
    ExportEndpoints,
    Identify,
    PublicUrlCheck,
    api_key_identity,
)
from export_resend.adapters.http.idempotency import IdempotentRequests
from export_resend.adapters.http.openapi import OpenApiEndpoint, Policies, openapi_document
from export_resend.adapters.http.operations import OperationsEndpoints
from export_resend.adapters.http.problems import exception_handlers
from export_resend.adapters.http.routes import (
    DOCUMENT,
    EncodedSlash,
    every_operation,
    export_operations,
    service_operations,
)
from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.check_readiness import CheckReadiness
from export_resend.application.download_export import DownloadExport
from export_resend.application.get_export import GetExport
from export_resend.application.idempotency import BeginIdempotentRequest, ReleaseIdempotencyKey
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports
from export_resend.application.request_export import RequestExport
from export_resend.application.resend_export_email import ResendExportEmail
from export_resend.application.scrape_metrics import ScrapeMetrics
from export_resend.application.telemetry import NO_METRICS, RequestMetrics
from export_resend.domain.export import ExportType

AppLifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def _app(
    routes: Sequence[BaseRoute], metrics: RequestMetrics, lifespan: AppLifespan | None = None
) -> Starlette:
    app = Starlette(
        routes=[EncodedSlash(), *routes],
        middleware=[Middleware(RequestContext, routes=routes, metrics=metrics)],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a path with a stray "/" is a 404 problem, not a 307
    return app


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
    served = [t for t in ExportType if t in export_types]
    exports = ExportEndpoints(
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
        max_body_bytes=max_body_bytes,
        check_public_url=PublicUrlCheck(public_base_url),
    )
    operations = OperationsEndpoints(check_readiness=check_readiness, scrape_metrics=scrape_metrics)
    metrics = operations.serves_metrics

    def document() -> dict[str, Any]:
        policies = Policies(
            resend_limit=resend_export_email.limit,
            idempotency_retention=begin_idempotent_request.retention,
        )
        return openapi_document(every_operation(served, metrics=metrics), policies)

    routes = [
        *(operation.route(exports) for operation in export_operations(served)),
        DOCUMENT.route(OpenApiEndpoint(document)),
        *(operation.route(operations) for operation in service_operations(metrics=metrics)),
        *more_routes,
    ]
    return _app(routes, request_metrics, lifespan)


def create_operations_app(
    *,
    check_readiness: CheckReadiness | None = None,
    scrape_metrics: ScrapeMetrics | None = None,
    request_metrics: RequestMetrics = NO_METRICS,
) -> Starlette:
    """Only the operations routes, with request ids and access lines: what a process that
    serves no API (``export-resend worker``) shows its monitoring."""
    operations = OperationsEndpoints(check_readiness=check_readiness, scrape_metrics=scrape_metrics)
    routes = [
        operation.route(operations)
        for operation in service_operations(metrics=operations.serves_metrics)
    ]
    return _app(routes, request_metrics)


__all__ = [
    "AppLifespan",
    "Identify",
    "api_key_identity",
    "create_http_app",
    "create_operations_app",
]
