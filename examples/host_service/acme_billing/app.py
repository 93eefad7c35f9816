"""acme-billing's web app, with export-resend mounted under ``/exports-api``.

Serve it with ``uvicorn --factory acme_billing.app:create_app`` (settings from the
``ACME_*`` variables), or build ``AcmeBilling(config)`` yourself, as the tests do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from acme_billing.data import metadata, sessions
from acme_billing.files import VolumeFileStore
from acme_billing.mailer import SpoolMailer
from acme_billing.row_source import AcmePayouts
from export_resend import Caller, ExportResend, Settings
from export_resend.application.errors import Unauthenticated

PREFIX = "/exports-api"


@dataclass(frozen=True)
class AcmeConfig:
    """What acme-billing is told from outside."""

    database_url: str
    """acme's own database (``sqlite+aiosqlite://…``); export-resend's tables live there too."""
    public_url: str
    """Where acme-billing is reached (``https://billing.acme.example``)."""
    link_secret: str
    """Signs the download links in emails; from acme's secret store."""
    spool: Path
    """The mail spool acme's relay empties."""
    volume: Path
    """Where export files are kept."""

    @classmethod
    def from_environment(cls) -> AcmeConfig:
        return cls(
            database_url=os.environ["ACME_DATABASE_URL"],
            public_url=os.environ["ACME_PUBLIC_URL"],
            link_secret=os.environ["ACME_LINK_SECRET"],
            spool=Path(os.environ.get("ACME_SPOOL", "spool")),
            volume=Path(os.environ.get("ACME_VOLUME", "export-files")),
        )


class AcmeBilling:
    """acme-billing: its engine, the export-resend service embedded in it, and its app."""

    def __init__(self, config: AcmeConfig) -> None:
        self.engine = create_async_engine(config.database_url)
        self.exports = ExportResend(
            Settings(
                link_secret=SecretStr(config.link_secret),
                # links in emails are minted in the background: they need the mount's prefix
                public_base_url=f"{config.public_url}{PREFIX}",
            ),
            engine=self.engine,
            identify=self.identify,
            mailer=SpoolMailer(config.spool),
            file_store=VolumeFileStore(config.volume),
            row_source=AcmePayouts(self.engine),
        )
        self.app = Starlette(
            routes=[Route("/", self.home), Mount(PREFIX, app=self.exports.asgi)],
            lifespan=self.lifespan,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(metadata.create_all)  # acme's own tables
            async with self.exports.running():  # export-resend's tables, then its work
                yield
        finally:
            await self.engine.dispose()  # acme's engine: export-resend never disposes of it

    async def identify(self, request: Request) -> Caller:
        """The caller of an export-resend request: the user of acme's session token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("sign in to acme-billing: Authorization: Bearer <token>")
        async with self.engine.connect() as connection:
            query = select(sessions).where(sessions.c.token == token)
            session = (await connection.execute(query)).one_or_none()
        if session is None:
            raise Unauthenticated("this acme-billing session has ended")
        return ExportResend.caller(
            tenant_id=session.tenant_id,
            user_id=session.user_id,
            email=session.email,
            client_type=session.role,
            supplier_id=session.supplier_id,
        )

    async def home(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("acme-billing")


def create_app() -> Starlette:
    """The app, configured from the environment (for ``uvicorn --factory``)."""
    return AcmeBilling(AcmeConfig.from_environment()).app
