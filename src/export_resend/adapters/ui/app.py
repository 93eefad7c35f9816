"""The operator page (``/ui/``) and the API reference (``/docs``), as routes the service
mounts beside its API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from export_resend.adapters.ui.forms import UnreadableForm
from export_resend.adapters.ui.i18n import N_
from export_resend.adapters.ui.pages import NotSignedIn, Pages, UseCases
from export_resend.adapters.ui.rendering import DOCS, MOUNT, Renderer
from export_resend.adapters.ui.security import (
    DOCS_POLICY,
    PAGE_POLICY,
    CrossSiteRequest,
    Guard,
    SecurityHeaders,
)
from export_resend.application.errors import ServiceNotRunning
from export_resend.domain.errors import (
    ExportForbidden,
    ExportNotFound,
    ExportTypeNotAllowed,
    ExportTypeNotServed,
)
from export_resend.domain.export_types import ExportType
from export_resend.domain.ports import StorageUnavailable


class Assets:
    """The bundled assets (``static/``), revalidated on each use: their URLs change with
    their content, and a revalidation costs a 304."""

    def __init__(self) -> None:
        self._files = StaticFiles(packages=[(__package__, "static")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_revalidated(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-cache"
            await send(message)

        await self._files(scope, receive, send_revalidated)


def _error_page(
    renderer: Renderer, pages: Pages
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotSignedIn):
            return RedirectResponse(renderer.url(request, "/sign-in"), 303)
        title, status = _ERRORS.get(type(exc), ("", 500))
        if isinstance(exc, HTTPException):
            status = exc.status_code
            title = N_("Not found") if status == 404 else N_("This cannot be done here")
        visit = None
        if not isinstance(exc, ServiceNotRunning | StorageUnavailable):
            try:
                visit = await pages.visit(request)
            except Exception:
                visit = None
        detail = renderer.gettext(request, visit, _DETAILS.get(status, _DETAILS[500]))
        return renderer.page(
            request,
            "error.html",
            visit,
            status=status,
            title=renderer.gettext(request, visit, title or N_("Something went wrong")),
            detail=detail,
        )

    return handle


_ERRORS: dict[type[Exception], tuple[str, int]] = {
    ExportNotFound: (N_("Export not found"), 404),
    ExportTypeNotServed: (N_("Export not found"), 404),
    ExportForbidden: (N_("This export is someone else's"), 403),
    ExportTypeNotAllowed: (N_("You may not request this export"), 403),
    CrossSiteRequest: (N_("The form has expired"), 403),
    UnreadableForm: (N_("This form cannot be read"), 400),
    ServiceNotRunning: (N_("The service is not running"), 503),
    StorageUnavailable: (N_("The service is unavailable"), 503),
}
_DETAILS = {
    404: N_("There is no such page or export here."),
    400: N_("This form cannot be read here: reload the page and send it again."),
    403: N_("This was refused. If you sent a form, reload the page and send it again."),
    405: N_("There is no such page or export here."),
    503: N_("The service cannot answer now. Try again in a moment."),
    500: N_("The service failed to answer. Try again, and tell its operators if it goes on."),
}


def create_ui_app(
    *,
    use_cases: UseCases,
    secret: str,
    secure_cookies: bool,
    session_seconds: int,
    export_types: Collection[ExportType] = tuple(ExportType),
    docs: bool = True,
) -> Starlette:
    """The operator page, to mount at ``/ui`` of the service's app: the same use cases as
    the API, in a browser. ``secret`` signs its cookies and tokens; ``secure_cookies`` for
    a service reached in https; only ``export_types`` are offered."""
    guard = Guard(secret, secure=secure_cookies, max_age_seconds=session_seconds)
    renderer = Renderer(guard=guard, docs=docs)
    pages = Pages(
        use_cases=use_cases,
        guard=guard,
        renderer=renderer,
        secret=secret,
        export_types=export_types,
    )
    routes = [
        Route("/", pages.exports, methods=["GET"], name="ui-exports"),
        Route("/sign-in", pages.sign_in_form, methods=["GET"], name="ui-sign-in-form"),
        Route("/sign-in", pages.sign_in, methods=["POST"], name="ui-sign-in"),
        Route("/sign-out", pages.sign_out, methods=["POST"], name="ui-sign-out"),
        Route("/exports/{export_id}", pages.export, methods=["GET"], name="ui-export"),
        Route(
            "/exports/{export_id}/status", pages.export_status, methods=["GET"], name="ui-status"
        ),
        Route("/exports/{export_id}/resend", pages.resend, methods=["POST"], name="ui-resend"),
        Route("/request", pages.request_forms, methods=["GET"], name="ui-request-forms"),
        Route("/request/{slug}", pages.request_export, methods=["POST"], name="ui-request"),
        Mount("/static", app=Assets(), name="ui-static"),
    ]
    handler = _error_page(renderer, pages)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, policy=PAGE_POLICY)],
        exception_handlers=dict.fromkeys(
            (HTTPException, NotSignedIn, CrossSiteRequest, *_ERRORS), handler
        ),
    )
    app.router.redirect_slashes = False
    return app


def _docs_page(*, with_page: bool) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return HTMLResponse(_docs_html(root, with_page=with_page))

    return page


def _docs_html(root: str, *, with_page: bool) -> str:
    assets = f"{root}{DOCS}/assets"
    page = f'<a href="{root}{MOUNT}/">Operator page</a> ' if with_page else ""
    return _DOCS_HTML.format(
        css=f"{assets}/vendor/swagger-ui/swagger-ui.css",
        bundle=f"{assets}/vendor/swagger-ui/swagger-ui-bundle.js",
        own_css=f"{assets}/docs.css",
        start=f"{assets}/docs.js",
        spec=f"{root}/openapi.json",
        page=page,
    )


_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>export-resend API reference</title>
<link rel="stylesheet" href="{css}">
<link rel="stylesheet" href="{own_css}">
</head>
<body>
<header class="docs-banner">{page}<a href="{spec}">openapi.json</a></header>
<main id="swagger-ui" data-spec="{spec}"></main>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
"""


def service_routes(ui: Starlette | None) -> list[BaseRoute]:
    """What the service's app mounts: the API reference at ``/docs`` (its assets under
    ``/docs/assets``), and the operator page at ``/ui/`` when given (``/ui`` sends there)."""
    docs_page = SecurityHeaders(
        request_response(_docs_page(with_page=ui is not None)), policy=DOCS_POLICY
    )
    routes: list[BaseRoute] = [
        Route(DOCS, docs_page, methods=["GET"], name="docs"),
        Mount(f"{DOCS}/assets", SecurityHeaders(Assets(), policy=DOCS_POLICY), name="docs-assets"),
    ]
    if ui is not None:

        async def to_page(request: Request) -> Response:
            return RedirectResponse(f"{request.scope.get('root_path', '')}{MOUNT}/", 308)

        routes += [
            Route(MOUNT, to_page, methods=["GET"], name="ui-root"),
            Mount(MOUNT, app=ui, name="ui"),
        ]
    return routes
