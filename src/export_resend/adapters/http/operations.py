"""The routes for operators and their tools: liveness, readiness and metrics.

They need no API key. ``/metrics`` tells how busy the service is and why requests fail:
serve it to the monitoring network only, never through the public load balancer.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from export_resend.adapters.http.access import RequestContext
from export_resend.adapters.http.problems import exception_handlers
from export_resend.application.check_readiness import CheckReadiness
from export_resend.application.scrape_metrics import ScrapeMetrics
from export_resend.application.telemetry import NO_METRICS, RequestMetrics

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

    async def livez(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def readyz(self, request: Request) -> Response:
        if self._check_readiness is not None:
            await self._check_readiness()  # NotReady: a 503 problem
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    def routes(self) -> list[Route]:
        routes = [
            Route("/livez", self.livez, methods=["GET"], name="livez"),
            Route("/readyz", self.readyz, methods=["GET"], name="readyz"),
        ]
        scrape = self._scrape_metrics
        if scrape is not None:

            async def metrics(request: Request) -> Response:
                page = await scrape()
                return Response(page.body, media_type=page.media_type, headers=_NO_STORE)

            routes.append(Route("/metrics", metrics, methods=["GET"], name="metrics"))
        return routes


def create_operations_app(
    *,
    check_readiness: CheckReadiness | None = None,
    scrape_metrics: ScrapeMetrics | None = None,
    request_metrics: RequestMetrics = NO_METRICS,
) -> Starlette:
    """Only the operations routes, with request ids and access lines: what a process that
    serves no API (``export-resend worker``) shows its monitoring."""
    routes = OperationsEndpoints(
        check_readiness=check_readiness, scrape_metrics=scrape_metrics
    ).routes()
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext, routes=routes, metrics=request_metrics)],
        exception_handlers=exception_handlers(),
    )


__all__ = ["OperationsEndpoints", "create_operations_app"]
