"""The endpoints for operators and their tools: liveness, readiness and metrics.

They need no API key. ``/metrics`` tells how busy the service is and why requests fail:
serve it to the monitoring network only, never through the public load balancer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from export_resend.application.check_readiness import CheckReadiness
from export_resend.application.scrape_metrics import ScrapeMetrics

_NO_STORE = {"Cache-Control": "no-store"}


class OperationsEndpoints:
    """``/livez`` (the process answers), ``/readyz`` (and its database does, in time) and,
    given ``scrape_metrics``, ``/metrics`` (Prometheus's text format)."""

    def __init__(
        self,
        *,
        check_readiness: CheckReadiness | None = None,
        scrape_metrics: ScrapeMetrics | None = None,
    ) -> None:
        self._check_readiness = check_readiness
        self._scrape_metrics = scrape_metrics

    @property
    def serves_metrics(self) -> bool:
        """Whether there are metrics to serve."""
        return self._scrape_metrics is not None

    async def livez(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def readyz(self, request: Request) -> Response:
        if self._check_readiness is not None:
            await self._check_readiness()  # NotReady: a 503 problem
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def metrics(self, request: Request) -> Response:
        if self._scrape_metrics is None:
            raise LookupError("no metrics to serve: this route is not routed without them")
        page = await self._scrape_metrics()
        return Response(page.body, media_type=page.media_type, headers=_NO_STORE)


__all__ = ["OperationsEndpoints"]
