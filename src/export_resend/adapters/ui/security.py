"""What keeps the page safe in a browser: the session cookie, the CSRF tokens, and the
security headers of every answer.

- The session cookie holds the session's random token, signed (itsdangerous, with a key
  derived from the service's secret) and dated; ``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` when the public URL is https, its path the page's own, its age the session's
  longest life. The server's session record decides; the signature only spares the store
  from forged cookies.
- Every form carries a CSRF token: an HMAC of the session's token (the synchronizer token
  pattern, derived rather than stored). The sign-in form, before any session, is bound the
  same way to a random cookie of its own (a signed double submit). A POST whose
  ``Sec-Fetch-Site`` says another site sent it is refused before the token is even read.
- Every answer carries a Content-Security-Policy without inline script or style.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "export_resend_session"
SIGN_IN_COOKIE = "export_resend_sign_in"
CSRF_FIELD = "csrf_token"

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""The operator page: its own scripts and styles only, never inline ones."""
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
"""The API reference: Swagger UI draws its icons as data: images."""

SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class SecurityHeaders:
    """ASGI middleware: the security headers, this ``policy``, and ``Cache-Control:
    no-store`` unless the answer set its own (pages hold personal data; assets do not)."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self._policy
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self._app(scope, receive, send_with_headers)


class CrossSiteRequest(Exception):
    """A form posted from another site, or without its CSRF token."""


class Guard:
    """Signs the session cookie and makes and checks the CSRF tokens, with keys derived
    from ``secret``; ``secure`` marks the cookies ``Secure`` (a public URL in https)."""

    def __init__(self, secret: str, *, secure: bool, max_age_seconds: int) -> None:
        self._cookie_signer = TimestampSigner(secret, salt="export-resend.ui.session-cookie")
        self._csrf_key = hashlib.sha256(f"export-resend.ui.csrf\0{secret}".encode()).digest()
        self.secure = secure
        self.max_age_seconds = max_age_seconds

    def cookie_name(self, name: str) -> str:
        # a Secure cookie may say so in its name, which no plain-http page can then set
        return f"__Secure-{name}" if self.secure else name

    def session_token(self, request: Request) -> str | None:
        """The session token of the request's cookie, if its signature holds."""
        value = request.cookies.get(self.cookie_name(SESSION_COOKIE))
        if not value:
            return None
        try:
            return self._cookie_signer.unsign(value, max_age=self.max_age_seconds).decode()
        except BadSignature:
            return None

    def set_session(self, response: Response, token: str, path: str) -> None:
        self._set(response, SESSION_COOKIE, self._cookie_signer.sign(token).decode(), path)

    def clear_session(self, response: Response, path: str) -> None:
        self._clear(response, SESSION_COOKIE, path)

    def csrf_token(self, bound_to: str) -> str:
        """The CSRF token of a session (or of a sign-in form's cookie)."""
        return hmac.new(self._csrf_key, bound_to.encode(), hashlib.sha256).hexdigest()

    def check(self, request: Request, form: Mapping[str, object], bound_to: str | None) -> None:
        """Raise ``CrossSiteRequest`` unless the form came from this site with the token
        of ``bound_to``."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise CrossSiteRequest("the form was sent from another site")
        given = form.get(CSRF_FIELD)
        if bound_to is None or not isinstance(given, str):
            raise CrossSiteRequest("the form's security token is missing")
        if not hmac.compare_digest(given, self.csrf_token(bound_to)):
            raise CrossSiteRequest("the form's security token does not match")

    def sign_in_nonce(self, request: Request) -> str | None:
        return request.cookies.get(self.cookie_name(SIGN_IN_COOKIE)) or None

    @staticmethod
    def new_sign_in_nonce() -> str:
        return secrets.token_urlsafe(32)

    def set_sign_in_nonce(self, response: Response, nonce: str, path: str) -> None:
        self._set(response, SIGN_IN_COOKIE, nonce, path, max_age=3600)

    def clear_sign_in(self, response: Response, path: str) -> None:
        self._clear(response, SIGN_IN_COOKIE, path)

    def _set(
        self, response: Response, name: str, value: str, path: str, max_age: int | None = None
    ) -> None:
        response.set_cookie(
            self.cookie_name(name),
            value,
            max_age=self.max_age_seconds if max_age is None else max_age,
            path=path,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def _clear(self, response: Response, name: str, path: str) -> None:
        response.delete_cookie(
            self.cookie_name(name), path=path, secure=self.secure, httponly=True, samesite="strict"
        )
