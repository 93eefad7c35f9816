"""``ExportResend``: the one object a host service builds, mounts, runs and calls."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Self, TypeVar, overload

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette

from export_resend.adapters.http import create_http_app
from export_resend.adapters.http.exports import Identify
from export_resend.adapters.sql import Database, SqlAlchemyUnitOfWork
from export_resend.adapters.ui import UseCases, create_ui_app, service_routes
from export_resend.application.create_api_key import CreateApiKey, CreateApiKeyCommand
from export_resend.application.download_export import DownloadExport
from export_resend.application.get_export import GetExport
from export_resend.application.list_api_keys import ListApiKeys
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports
from export_resend.application.request_export import RequestExport
from export_resend.application.resend_export_email import ResendExportEmail
from export_resend.application.revoke_api_key import RevokeApiKey
from export_resend.application.validation import validate
from export_resend.container import Container
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export_types import ExportType
from export_resend.domain.ports import (
    AnyRowSource,
    ApiKeyStore,
    Clock,
    FileStore,
    Mailer,
    UnitOfWorkFactory,
)
from export_resend.lifecycle import MissingApiKeyStore, OpenedUnitOfWork, UnitOfWorkProbe
from export_resend.settings import DatabaseDriver, Settings, UnsupportedSetting

if TYPE_CHECKING:
    from starlette.types import ASGIApp


UseCaseT = TypeVar("UseCaseT")


class _UseCase(Generic[UseCaseT]):
    """A use case of the service's container, made on first use (so that a setting only it
    needs, such as the link secret, is asked for only by those that use it)."""

    def __set_name__(self, owner: type[ExportResend], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, service: None, owner: type[ExportResend]) -> Self: ...

    @overload
    def __get__(self, service: ExportResend, owner: type[ExportResend]) -> UseCaseT: ...

    def __get__(self, service: ExportResend | None, owner: type[ExportResend]) -> Self | UseCaseT:
        if service is None:
            return self
        use_case: UseCaseT = getattr(service.container, self._name)()
        service.__dict__[self._name] = use_case  # the next look-up finds it there
        return use_case


@dataclass(frozen=True, slots=True)
class HostTransaction:
    """The use cases that write, bound to a host's own transaction."""

    resend_export_email: ResendExportEmail
    request_export: RequestExport


class ExportResend:
    """export-resend, embedded: its HTTP app, its background work and its use cases.

    Every collaborator is optional: what is not given is built from ``settings`` (or the
    ``EXPORT_RESEND_*`` environment when ``settings`` is ``None``). Give your own as plain
    objects implementing the ports of ``export_resend.domain.ports``:

    - ``unit_of_work``: a ``UnitOfWorkFactory`` on your storage, and ``api_keys`` an
      ``ApiKeyStore`` (both wrapped by the key cache of ``api_key_cache_seconds``); or
      ``engine``, your SQLAlchemy ``AsyncEngine``, for our tables in your database (our
      units of work then run on SQLAlchemy Core, on your engine's pool);
    - ``mailer``, ``file_store``, ``clock``;
    - ``row_source``: your data, with a method for each export type you serve (only those
      types get a route);
    - ``identify``: who makes an HTTP request, from your own identity instead of our API
      keys (``async def identify(request) -> Caller``);
    - ``ui``: whether the operator page is served at ``/ui/`` (people sign in to it with
      our API keys: leave it out with ``ui=False`` when your callers have none). The API
      reference is at ``/docs`` either way.

    Nothing opens until ``running()`` is entered (or the app's own lifespan runs): before
    that, every use of the storage raises ``ServiceNotRunning`` (503 over HTTP).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        unit_of_work: UnitOfWorkFactory | None = None,
        api_keys: ApiKeyStore | None = None,
        mailer: Mailer | None = None,
        row_source: AnyRowSource | None = None,
        file_store: FileStore | None = None,
        clock: Clock | None = None,
        engine: AsyncEngine | None = None,
        identify: Identify | None = None,
        ui: bool = True,
        container: Container | None = None,
    ) -> None:
        if container is None:
            container = Container(settings=settings or Settings())
        self._container = container
        self._identify = identify
        self._ui = ui
        settings = container.settings()
        if engine is not None:
            if settings.database_driver is DatabaseDriver.ASYNCPG:
                raise UnsupportedSetting(
                    "a host's engine= runs on SQLAlchemy Core: unset"
                    " EXPORT_RESEND_DATABASE_DRIVER=asyncpg"
                )
            container.database.override(providers.Object(Database.of_engine(engine)))
            container.database_driver.override(providers.Object(DatabaseDriver.SQLALCHEMY))
        if unit_of_work is not None:
            _own_storage(
                container,
                settings=settings,
                unit_of_work=unit_of_work,
                engine=engine,
                api_keys=api_keys,
                identify=identify,
            )
        if api_keys is not None:
            container.stored_api_keys.override(providers.Object(api_keys))
        for provider, given in (
            (container.mailer, mailer),
            (container.file_store, file_store),
            (container.clock, clock),
            (container.row_source, row_source),
        ):
            if given is not None:
                provider.override(providers.Object(given))
        self.export_types: frozenset[ExportType] = container.export_types()
        """The export types this service generates: those its row source has a method for."""
        if not self.export_types:
            raise UnsupportedSetting(
                "the row source has no method for any export type: implement at least one"
                " of transaction_events, supplier_payouts, funding_transfers,"
                " marketplace_payouts"
            )
        self._asgi: Starlette | None = None

    resend_export_email = _UseCase[ResendExportEmail]()
    """Queue the email of a READY export again, to its owner and a CC list."""
    request_export = _UseCase[RequestExport]()
    """Queue a new export for a caller; it is generated in the background."""
    get_export = _UseCase[GetExport]()
    """One export, with its effective status."""
    list_exports = _UseCase[ListExports]()
    """One page of a caller's exports, newest first."""
    list_export_emails = _UseCase[ListExportEmails]()
    """The emails of one export, oldest first."""
    download_export = _UseCase[DownloadExport]()
    """Open the file a download link names."""
    create_api_key = _UseCase[CreateApiKey]()
    """A new API key for a user (made with their first key)."""
    list_api_keys = _UseCase[ListApiKeys]()
    """Every key's record, never a key."""
    revoke_api_key = _UseCase[RevokeApiKey]()
    """Revoke a key by its id."""

    @property
    def container(self) -> Container:
        """The composition root inside: for tests and the command line, not for hosts."""
        return self._container

    @property
    def settings(self) -> Settings:
        """The settings this service was built with."""
        settings: Settings = self._container.settings()
        return settings

    @property
    def asgi(self) -> Starlette:
        """The Starlette application; mount it anywhere. Its own lifespan is ``running()``,
        which a host that mounts it enters in its own lifespan instead."""
        if self._asgi is None:
            self._asgi = self._build_asgi()
        return self._asgi

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Open the storage (a SQLite file is created or upgraded; any other database must
        be at the latest schema), start the dispatcher, the export generator and the
        sweeps (unless ``serve_dispatcher`` is off), and stop and close them all on exit.
        Blocks may nest: the first opens, the last closes."""
        lifecycle = self._container.lifecycle()
        async with contextlib.AsyncExitStack() as stack:
            first = lifecycle.enter()
            stack.callback(lifecycle.leave)  # last: a stopping dispatcher still gives work back
            if first:
                await self._open(stack)
            yield self

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        """Open what ``running()`` runs, each closed by ``stack`` in reverse order."""
        container = self._container
        database = container.database()
        if database is not None:
            stack.push_async_callback(database.dispose)
            await database.open()
        close_files = getattr(container.file_store(), "aclose", None)
        if close_files is not None:  # an S3 store keeps a pool of connections
            stack.push_async_callback(close_files)
        if not self.settings.serve_dispatcher:
            return
        stack.push_async_callback(container.mailer().close)
        await stack.enter_async_context(container.background_work().running())

    async def upgrade_database(self) -> None:
        """Apply our migrations to our database (``export-resend db upgrade`` does the same):
        a SQLite file upgrades itself in ``running()``, PostgreSQL must be upgraded first."""
        database = self._container.database()
        if not isinstance(database, Database):
            raise UnsupportedSetting("there is no database of ours to upgrade")
        await database.upgrade()

    def in_transaction(self, connection: AsyncConnection) -> HostTransaction:
        """The use cases that write, inside ``connection``'s transaction, which you commit
        or roll back with your own writes: our tables must be in its database (``engine=``,
        or our SQL database). Their effect is a SAVEPOINT; the background work sees it once
        you commit (at its next look: ``dispatch_poll_interval``)."""
        database = self._container.database()
        if not isinstance(database, Database):
            raise UnsupportedSetting(
                "in_transaction needs our tables in your database: give engine= (or a"
                " database URL) rather than your own unit_of_work"
            )
        joined = OpenedUnitOfWork(
            lambda: SqlAlchemyUnitOfWork.joining(connection), self._container.lifecycle()
        )
        return HostTransaction(
            resend_export_email=self._container.resend_export_email_in(unit_of_work=joined),
            request_export=self._container.request_export_in(unit_of_work=joined),
        )

    @staticmethod
    def caller(
        *,
        tenant_id: str,
        user_id: str,
        email: str,
        client_type: ClientType | str = ClientType.OPERATOR,
        supplier_id: str | None = None,
    ) -> Caller:
        """A caller from a host's own identity, validated as the API validates a key's user
        (``ValidationFailed`` naming the field at fault)."""
        command = validate(
            CreateApiKeyCommand,
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "email": email,
                "client_type": client_type,
                "supplier_id": supplier_id,
            },
        )
        return command.caller

    def _build_asgi(self) -> Starlette:
        container = self._container

        @contextlib.asynccontextmanager
        async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
            async with self.running():
                yield

        settings = self.settings
        return create_http_app(
            authenticate=container.authenticate_caller(),
            identify=self._identify,
            resend_export_email=self.resend_export_email,
            get_export=self.get_export,
            list_export_emails=self.list_export_emails,
            request_export=self.request_export,
            list_exports=self.list_exports,
            download_export=self.download_export,
            begin_idempotent_request=container.begin_idempotent_request(),
            release_idempotency_key=container.release_idempotency_key(),
            lifespan=lifespan,
            check_readiness=container.check_readiness(),
            scrape_metrics=container.scrape_metrics(),
            request_metrics=container.metrics(),
            export_types=tuple(t for t in ExportType if t in self.export_types),
            public_base_url=settings.public_base_url,
            more_routes=service_routes(self._ui_app() if self._ui else None),
        )

    def _ui_app(self) -> Starlette:
        container, settings = self._container, self.settings
        return create_ui_app(
            use_cases=UseCases(
                sign_in=container.sign_in(),
                resume_session=container.resume_session(),
                sign_out=container.sign_out(),
                list_exports=self.list_exports,
                get_export=self.get_export,
                list_export_emails=self.list_export_emails,
                resend_export_email=self.resend_export_email,
                request_export=self.request_export,
                begin_idempotent_request=container.begin_idempotent_request(),
                release_idempotency_key=container.release_idempotency_key(),
            ),
            secret=container.secret(),
            secure_cookies=settings.secure_cookies,
            session_seconds=int(settings.ui_session_lifetime.total_seconds()),
            export_types=self.export_types,
        )


def _own_storage(
    container: Container,
    *,
    settings: Settings,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine | None,
    api_keys: ApiKeyStore | None,
    identify: Identify | None,
) -> None:
    """Wire a host's unit of work; without a database of ours, the host's adapters alone."""
    container.unit_of_work.override(providers.Callable(unit_of_work))
    if engine is not None or "database_url" in settings.model_fields_set:
        return
    if settings.link_secret is None:
        raise UnsupportedSetting(
            "with your own unit_of_work and no database URL, set link_secret in the settings"
            " (EXPORT_RESEND_LINK_SECRET): download links must outlive this process"
        )
    if api_keys is None and identify is None:
        raise UnsupportedSetting(
            "with your own unit_of_work and no database URL, give api_keys= (your key store)"
            " or identify= (your own identity)"
        )
    container.database.override(providers.Object(None))
    container.database_probe.override(providers.Object(UnitOfWorkProbe(unit_of_work)))
    if api_keys is None:
        container.stored_api_keys.override(providers.Object(MissingApiKeyStore()))
