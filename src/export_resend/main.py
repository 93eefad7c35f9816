"""Build the ASGI application: ``uvicorn --factory export_resend.main:create_app``."""

from __future__ import annotations

from dependency_injector.ext.starlette import Lifespan
from starlette.applications import Starlette

from export_resend.adapters.http import create_http_app
from export_resend.adapters.http import create_operations_app as operations_app
from export_resend.container import Container
from export_resend.settings import Settings


def create_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Starlette:
    """The service, wired by ``container`` (or a new one from ``settings`` or the environment).

    Tests pass a container whose providers they have overridden. Resources (the dispatcher)
    start and stop with the application's lifespan.
    """
    if container is None:
        container = Container(settings=settings or Settings())
    return create_http_app(
        authenticate=container.authenticate_caller(),
        resend_export_email=container.resend_export_email(),
        get_export=container.get_export(),
        list_export_emails=container.list_export_emails(),
        request_export=container.request_export(),
        list_exports=container.list_exports(),
        download_export=container.download_export(),
        begin_idempotent_request=container.begin_idempotent_request(),
        release_idempotency_key=container.release_idempotency_key(),
        lifespan=Lifespan(container),
        check_readiness=container.check_readiness(),
        scrape_metrics=container.scrape_metrics(),
        request_metrics=container.metrics(),
    )


def create_operations_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Starlette:
    """``/livez``, ``/readyz`` and ``/metrics`` of the service, alone, with no lifespan: for
    ``export-resend worker``, which starts and stops the container's resources itself."""
    if container is None:
        container = Container(settings=settings or Settings())
    return operations_app(
        check_readiness=container.check_readiness(),
        scrape_metrics=container.scrape_metrics(),
        request_metrics=container.metrics(),
    )
