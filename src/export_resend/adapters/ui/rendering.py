"""Pages from Jinja2 templates, in the reader's language, with the mount prefix followed."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from export_resend.adapters.ui.i18n import Reader
from export_resend.adapters.ui.security import CSRF_FIELD, Guard
from export_resend.application.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from export_resend.domain.errors import ExportNotReady, ResendRateLimited

if TYPE_CHECKING:
    from export_resend.adapters.ui.pages import Visit

MOUNT = "/ui"
"""Where the page is mounted in the service's app."""
DOCS = "/docs"


def _static_versions() -> Mapping[str, str]:
    """A short digest of each bundled asset, put in its URL so that a new one is fetched."""
    root = resources.files(__package__).joinpath("static")
    versions: dict[str, str] = {}

    def walk(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                versions[prefix + entry.name] = hashlib.sha256(entry.read_bytes()).hexdigest()[:12]

    walk(root, "")
    return versions


class Renderer:
    """Renders the templates for one request: its locale and zone (``Reader``), its URLs
    under the prefix the page is mounted at."""

    def __init__(self, *, guard: Guard, docs: bool = True) -> None:
        self._guard = guard
        self._docs = docs
        self._versions = _static_versions()

    @functools.cache  # noqa: B019 (one per locale, for the life of the app)
    def _environment(self, locale: str) -> Environment:
        environment = Environment(
            loader=PackageLoader(__package__, "templates"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.install_gettext_translations(  # type: ignore[attr-defined]
            Reader(locale).translations, newstyle=True
        )
        return environment

    def reader(self, request: Request, visit: Visit | None) -> Reader:
        caller = None if visit is None else visit.caller
        return Reader.of(caller, request.headers.get("accept-language"))

    @staticmethod
    def url(request: Request, path: str) -> str:
        """``path`` of the page, under the prefix it is mounted at."""
        return f"{request.scope.get('root_path', '')}{path}"

    @staticmethod
    def cookie_path(request: Request) -> str:
        return request.scope.get("root_path", "") or "/"

    def static(self, request: Request, name: str) -> str:
        return self.url(request, f"/static/{name}?v={self._versions[name]}")

    def gettext(self, request: Request, visit: Visit | None, text: str, **values: Any) -> str:
        translated: str = self.reader(request, visit).translations.gettext(text)
        return translated % values if values else translated

    def body(self, request: Request, template: str, visit: Visit | None, **context: Any) -> str:
        reader = self.reader(request, visit)
        environment = self._environment(str(reader.locale))
        root = request.scope.get("root_path", "")
        app_root = root.removesuffix(MOUNT)
        context.setdefault("current", None)
        return environment.get_template(template).render(
            reader=reader,
            caller=None if visit is None else visit.caller,
            csrf=context.pop("csrf", None) or self._guard.csrf_token(visit.token if visit else ""),
            csrf_field=CSRF_FIELD,
            url=lambda path: self.url(request, path),
            static=lambda name: self.static(request, name),
            docs_url=f"{app_root}{DOCS}" if self._docs else None,
            path=request.url.path,
            **context,
        )

    def page(
        self,
        request: Request,
        template: str,
        visit: Visit | None,
        *,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        return HTMLResponse(self.body(request, template, visit, **context), status)

    def refusal(self, request: Request, visit: Visit | None, exc: Exception) -> str:
        """A use case's refusal of a form, in words for the reader."""
        if isinstance(exc, ExportNotReady):
            return self.gettext(
                request,
                visit,
                "This export is %(status)s: only a READY export can be sent again.",
                status=exc.status.value,
            )
        if isinstance(exc, ResendRateLimited):
            return self.gettext(
                request,
                visit,
                "This export was sent again too often within the hour: try again in"
                " %(seconds)s seconds.",
                seconds=exc.retry_after_seconds,
            )
        if isinstance(exc, IdempotencyKeyReused):
            return self.gettext(
                request,
                visit,
                "This form was already sent with other values: check them and send again.",
            )
        if isinstance(exc, IdempotencyKeyInUse):
            return self.gettext(
                request, visit, "This form is still being sent: reload the page in a moment."
            )
        return str(exc)
