"""The two requests an SNS message may make us send, with the standard library's HTTP client
in a worker thread: they are rare (a certificate is fetched once, a subscription confirmed
once), so a pool of connections would buy nothing."""

from __future__ import annotations

import asyncio
import http.client
import ssl
import urllib.request
from collections.abc import Callable
from email.message import Message
from typing import IO, NoReturn

from export_resend.adapters.ses.hosts import check_certificate_url, check_confirmation_url
from export_resend.domain.delivery_events import (
    CertificateFetcher,
    ProviderUnavailable,
    SubscriptionConfirmer,
)

MAX_CERTIFICATE_BYTES = 64 * 1024
"""A PEM certificate is a few KiB; anything larger is not one."""
MAX_CONFIRMATION_BYTES = 64 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: it could lead off the SNS host we checked."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> NoReturn:
        raise ProviderUnavailable(f"SNS answered {code} (a redirect, not followed)")


def sns_opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """An opener that verifies TLS with the system's trust store and follows no redirect;
    ``handlers`` are added to urllib's (a test's stand-in for the network, say)."""
    return urllib.request.build_opener(
        _NoRedirects(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        *handlers,
    )


def _get(opener: urllib.request.OpenerDirector, url: str, timeout: float, limit: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "export-resend"})  # noqa: S310 (https only, checked)
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise ProviderUnavailable(f"SNS answered {response.status}")
            body: bytes = response.read(limit + 1)
    except ProviderUnavailable:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # an HTTPError (4xx, 5xx) is an OSError; its text names the status, never the URL
        raise ProviderUnavailable(f"SNS could not be reached: {type(exc).__name__}") from None
    if len(body) > limit:
        raise ProviderUnavailable(f"SNS answered more than {limit} bytes")
    return body


class UrllibCertificateFetcher(CertificateFetcher):
    """Fetches an SNS signing certificate over https (``check_certificate_url`` is checked
    again here, so no other URL is ever requested)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        opener: Callable[[], urllib.request.OpenerDirector] = sns_opener,
    ) -> None:
        self._timeout = timeout
        self._opener = opener()

    async def fetch(self, url: str) -> bytes:
        try:
            check_certificate_url(url)
        except ValueError as exc:
            raise ProviderUnavailable(f"not fetched: {exc}") from None
        return await asyncio.to_thread(
            _get, self._opener, url, self._timeout, MAX_CERTIFICATE_BYTES
        )


class UrllibSubscriptionConfirmer(SubscriptionConfirmer):
    """Visits an SNS SubscribeURL over https (``check_confirmation_url`` is checked again
    here; the receiver also checked that it confirms an allowed topic)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        opener: Callable[[], urllib.request.OpenerDirector] = sns_opener,
    ) -> None:
        self._timeout = timeout
        self._opener = opener()

    async def confirm(self, url: str) -> None:
        try:
            check_confirmation_url(url)
        except ValueError as exc:
            raise ProviderUnavailable(f"not visited: {exc}") from None
        await asyncio.to_thread(_get, self._opener, url, self._timeout, MAX_CONFIRMATION_BYTES)
