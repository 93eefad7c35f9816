"""Build the ASGI application: ``uvicorn --factory export_resend.main:create_app``."""

from __future__ import annotations

from starlette.applications import Starlette

from export_resend.adapters.http import create_operations_app as operations_app
from export_resend.container import Container
from export_resend.service import ExportResend
from export_resend.settings import Settings


def create_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Starlette:
    """The service, wired by ``container`` (or a new one from ``settings`` or the environment):
    ``ExportResend(settings).asgi``. Its lifespan runs the service (``ExportResend.running``).

    Tests pass a container whose providers they have overridden.
    """
    return ExportResend(settings, container=container).asgi


def create_operations_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Starlette:
    """``/livez``, ``/readyz`` and ``/metrics`` of the service, alone, with no lifespan: for
    ``export-resend worker``, which runs the service itself."""
    if container is None:
        container = Container(settings=settings or Settings())
    return operations_app(
        check_readiness=container.check_readiness(),
        scrape_metrics=container.scrape_metrics(),
        request_metrics=container.metrics(),
    )
