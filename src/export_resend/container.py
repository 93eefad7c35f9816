"""The composition root: the one place that chooses adapters and wires use cases."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import ssl
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from dependency_injector import containers, providers

from export_resend.adapters.caching import CachingApiKeyStore
from export_resend.adapters.clock import SystemClock
from export_resend.adapters.console import ConsoleMailer
from export_resend.adapters.demo import DemoRowSource
from export_resend.adapters.files import LocalFileStore
from export_resend.adapters.memory import (
    InMemoryApiKeyStore,
    InMemoryFileStore,
    InMemoryMailer,
    InMemoryStore,
    InMemoryUnitOfWork,
)
from export_resend.adapters.prometheus import PrometheusMetrics
from export_resend.adapters.smtp import SmtpMailer
from export_resend.adapters.sql import Database, SqlAlchemyApiKeyStore
from export_resend.adapters.sql.database import HEAD_REVISION
from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.check_readiness import CheckReadiness
from export_resend.application.create_api_key import CreateApiKey
from export_resend.application.dispatcher import DeliveryDispatcher, ExportGenerator
from export_resend.application.download_export import DownloadExport
from export_resend.application.expiry import ExpireExports, ExpirySweeper
from export_resend.application.generation import (
    ClaimPendingExports,
    ExportFileWriter,
    GenerateClaimedExport,
    ReleaseClaimedExports,
)
from export_resend.application.get_export import GetExport
from export_resend.application.idempotency import (
    BeginIdempotentRequest,
    PurgeIdempotencyKeys,
    ReleaseIdempotencyKey,
)
from export_resend.application.links import DownloadLinks
from export_resend.application.list_api_keys import ListApiKeys
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports
from export_resend.application.message import ExportEmailComposer, default_templates
from export_resend.application.outbox import (
    ClaimDueEmails,
    ReleaseClaimedEmails,
    SendClaimedEmail,
)
from export_resend.application.request_export import RequestExport
from export_resend.application.resend_export_email import ResendExportEmail
from export_resend.application.revoke_api_key import RevokeApiKey
from export_resend.application.scrape_metrics import ScrapeMetrics
from export_resend.application.seed_demo import SeedDemo
from export_resend.domain.delivery import ResendLimit
from export_resend.domain.ports import FileStore, Mailer, UnitOfWork
from export_resend.settings import LocalFiles, Settings

log = logging.getLogger(__name__)


class UnsupportedSetting(ValueError):
    """A setting names something this version cannot do, or lacks something it needs."""


def storage_kind(settings: Settings) -> str:
    """``memory`` for ``memory://``; ``sql`` for a SQLite or PostgreSQL URL."""
    url = settings.database_url
    if url == "memory://":
        return "memory"
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return "sql"
    # never echo a password: before the last '@', or in the query (asyncpg takes ?password=)
    shown = url.rpartition("@")[2].partition("?")[0]
    raise UnsupportedSetting(
        f"EXPORT_RESEND_DATABASE_URL=…{shown!r}: use sqlite+aiosqlite:///PATH, "
        "postgresql+asyncpg://USER@HOST/DB or memory://"
    )


MIN_SECRET_LENGTH = 32


def link_secret(settings: Settings, database: Database | None) -> str:
    """The configured secret; else, on the embedded default, one made once and kept in a
    file beside the SQLite file; in memory, a random one for this process."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value()
    if database is None:
        log.warning("EXPORT_RESEND_LINK_SECRET is not set: links die with this process")
        return secrets.token_urlsafe(32)
    if database.file is None:
        raise UnsupportedSetting(
            "EXPORT_RESEND_LINK_SECRET is required with a database other than a SQLite file"
        )
    path = database.file.with_name(database.file.name + ".secret")
    if not path.exists():
        # written whole under another name, then linked into place: a reader never sees a
        # half-written file, and of two processes starting together one secret wins
        draft = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise UnsupportedSetting(f"{path} holds no usable secret: delete it to make a new one")
    return secret


def new_unit_of_work(database: Database) -> UnitOfWork:
    """A unit of work on ``database``, of the kind that suits its dialect."""
    return database.unit_of_work()


async def opened(database: Database | None) -> AsyncIterator[Database | None]:
    """The database, ready for use: a SQLite file is created or upgraded to the latest
    schema; any other database must already be there (``export-resend db upgrade``)."""
    if database is None:
        yield None
        return
    try:
        if database.file is not None:
            await database.upgrade()
        elif (revision := await database.revision()) != HEAD_REVISION:
            raise UnsupportedSetting(
                f"the database schema is at {revision!r}, not "
                f"{HEAD_REVISION!r}: run 'export-resend db upgrade' first"
            )
        yield database
    finally:
        await database.dispose()


def files_kind(settings: Settings) -> str:
    """``memory`` with a ``memory://`` database; else ``named``: where the settings say."""
    return "memory" if storage_kind(settings) == "memory" else "named"


def named_file_store(settings: Settings) -> FileStore:
    """The directory, or the bucket and prefix, that the settings name."""
    files = settings.files
    if isinstance(files, LocalFiles):
        return LocalFileStore(files.directory)
    # imported here: aiobotocore takes a tenth of a second to import, paid by s3:// alone
    from export_resend.adapters.s3 import S3FileStore  # noqa: PLC0415

    return S3FileStore(
        files.bucket,
        prefix=files.prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        force_path_style=settings.s3_force_path_style,
    )


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def opened_files(files: FileStore) -> AsyncIterator[FileStore]:
    """The file store; at shut-down, its connections closed (an S3 store keeps a pool)."""
    try:
        yield files
    finally:
        if isinstance(files, _Closable):
            await files.aclose()


def smtp_mailer(settings: Settings) -> SmtpMailer:
    """The SMTP relay the settings name, with as many connections as sends run at once."""
    password = settings.smtp_password
    context = None
    if settings.smtp_ca_file is not None:
        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=None if password is None else password.get_secret_value(),
        timeout=settings.smtp_timeout,
        tls_context=context,
        connections=settings.dispatch_concurrency,
    )


async def running(
    dispatcher: DeliveryDispatcher,
    mailer: Mailer,
    database: Database | None,
    *,
    enabled: bool = True,
) -> AsyncIterator[DeliveryDispatcher]:
    """The dispatcher, sending from start-up to shut-down (once ``database`` is open), then
    the mailer's connections closed. Not started at all unless ``enabled``."""
    del database  # asked for so that the schema is ready before the first claim
    if not enabled:
        yield dispatcher
        return
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        try:
            await dispatcher.stop()
        finally:
            await mailer.close()


async def generating(
    generator: ExportGenerator,
    sweeper: ExpirySweeper,
    database: Database | None,
    *,
    enabled: bool = True,
) -> AsyncIterator[ExportGenerator]:
    """The export generator and the expiry sweep, running from start-up to shut-down (once
    ``database`` is open). Not started at all unless ``enabled``."""
    del database  # asked for so that the schema is ready before the first claim
    if not enabled:
        yield generator
        return
    generator.start()
    sweeper.start()
    try:
        yield generator
    finally:
        try:
            await sweeper.stop()
        finally:
            await generator.stop()


class Container(containers.DeclarativeContainer):
    """Adapters chosen from ``settings``; use cases built on them. Nothing runs at import."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(PrometheusMetrics)
    """Every metric of this container's service, in a registry of its own."""

    storage = providers.Callable(storage_kind, settings)
    memory_store = providers.Singleton(InMemoryStore)
    database = providers.Selector(
        storage,
        memory=providers.Object(None),
        sql=providers.Singleton(
            Database,
            settings.provided.database_url,
            pool_size=settings.provided.database_pool_size,
        ),
    )
    database_opened = providers.Resource(opened, database)
    unit_of_work = providers.Selector(
        storage,
        memory=providers.Factory(InMemoryUnitOfWork, memory_store),
        sql=providers.Factory(new_unit_of_work, database),
    )
    stored_api_keys = providers.Selector(
        storage,
        memory=providers.Singleton(InMemoryApiKeyStore),
        sql=providers.Singleton(SqlAlchemyApiKeyStore, database.provided.engine),
    )
    api_keys = providers.Singleton(
        CachingApiKeyStore,
        stored_api_keys,
        ttl_seconds=settings.provided.api_key_cache_seconds,
    )

    mailer = providers.Selector(
        settings.provided.mailer,
        console=providers.Singleton(ConsoleMailer),
        smtp=providers.Singleton(smtp_mailer, settings),
        memory=providers.Singleton(InMemoryMailer),
    )

    file_store = providers.Selector(
        providers.Callable(files_kind, settings),
        memory=providers.Singleton(InMemoryFileStore),
        named=providers.Singleton(named_file_store, settings),
    )
    files_opened = providers.Resource(opened_files, file_store)
    """The file store, closed at shut-down: ``serve``'s lifespan and ``worker`` start it."""
    row_source = providers.Singleton(
        DemoRowSource, rows=settings.provided.demo_rows, seed=settings.provided.demo_seed
    )
    """Where export rows come from: a host service overrides this with its own source."""

    links = providers.Singleton(
        DownloadLinks,
        secret=providers.Singleton(link_secret, settings, database),
        public_base_url=settings.provided.public_base_url,
    )
    composer = providers.Singleton(
        ExportEmailComposer,
        sender=settings.provided.mail_from,
        links=links,
        templates=providers.Singleton(default_templates),
    )

    claim_due_emails = providers.Singleton(
        ClaimDueEmails,
        unit_of_work=unit_of_work.provider,
        clock=clock,
        lease=settings.provided.delivery_lease,
    )
    send_claimed_email = providers.Singleton(
        SendClaimedEmail,
        unit_of_work=unit_of_work.provider,
        mailer=mailer,
        composer=composer,
        clock=clock,
        retry=settings.provided.retry_policy,
        metrics=metrics,
    )
    release_claimed_emails = providers.Singleton(
        ReleaseClaimedEmails, unit_of_work=unit_of_work.provider, clock=clock
    )
    dispatcher = providers.Singleton(
        DeliveryDispatcher,
        claim=claim_due_emails,
        send=send_claimed_email,
        release=release_claimed_emails,
        concurrency=settings.provided.dispatch_concurrency,
        poll_interval=settings.provided.dispatch_poll_interval,
    )
    dispatcher_running = providers.Resource(
        running, dispatcher, mailer, database_opened, enabled=settings.provided.serve_dispatcher
    )
    """The dispatcher, if ``serve_dispatcher`` (the ``worker`` command always sets it)."""

    claim_pending_exports = providers.Singleton(
        ClaimPendingExports,
        unit_of_work=unit_of_work.provider,
        clock=clock,
        lease=settings.provided.generation_lease,
    )
    export_file_writer = providers.Singleton(ExportFileWriter, rows=row_source, files=file_store)
    generate_claimed_export = providers.Singleton(
        GenerateClaimedExport,
        unit_of_work=unit_of_work.provider,
        writer=export_file_writer,
        files=file_store,
        clock=clock,
        notifier=dispatcher,
        link_ttl=settings.provided.link_ttl,
        lease=settings.provided.generation_lease,
        max_attempts=settings.provided.generation_max_attempts,
        message_id_domain=settings.provided.mail_domain,
        metrics=metrics,
    )
    release_claimed_exports = providers.Singleton(
        ReleaseClaimedExports, unit_of_work=unit_of_work.provider, clock=clock
    )
    generator = providers.Singleton(
        ExportGenerator,
        claim=claim_pending_exports,
        generate=generate_claimed_export,
        release=release_claimed_exports,
        concurrency=settings.provided.generation_concurrency,
        poll_interval=settings.provided.dispatch_poll_interval,
    )
    expire_exports = providers.Singleton(
        ExpireExports, unit_of_work=unit_of_work.provider, files=file_store, clock=clock
    )
    purge_idempotency_keys = providers.Singleton(
        PurgeIdempotencyKeys, unit_of_work=unit_of_work.provider, clock=clock
    )
    expiry_sweeper = providers.Singleton(
        ExpirySweeper,
        expire_exports,
        purge=purge_idempotency_keys,
        interval=settings.provided.expiry_sweep_interval.provided.total_seconds.call(),
    )
    generator_running = providers.Resource(
        generating,
        generator,
        expiry_sweeper,
        database_opened,
        enabled=settings.provided.serve_dispatcher,
    )
    """The generator and the expiry sweep, if ``serve_dispatcher``."""

    authenticate_caller = providers.Singleton(AuthenticateCaller, api_keys=api_keys, clock=clock)
    create_api_key = providers.Singleton(CreateApiKey, api_keys=api_keys, clock=clock)
    list_api_keys = providers.Singleton(ListApiKeys, api_keys=api_keys)
    revoke_api_key = providers.Singleton(RevokeApiKey, api_keys=api_keys, clock=clock)
    resend_export_email = providers.Singleton(
        ResendExportEmail,
        unit_of_work=unit_of_work.provider,
        clock=clock,
        notifier=dispatcher,
        message_id_domain=settings.provided.mail_domain,
        limit=providers.Factory(ResendLimit, settings.provided.resend_limit_per_hour),
    )
    begin_idempotent_request = providers.Singleton(
        BeginIdempotentRequest,
        unit_of_work=unit_of_work.provider,
        clock=clock,
        retention=settings.provided.idempotency_retention,
        lease=settings.provided.idempotency_lease,
    )
    release_idempotency_key = providers.Singleton(
        ReleaseIdempotencyKey, unit_of_work=unit_of_work.provider
    )
    get_export = providers.Singleton(GetExport, unit_of_work=unit_of_work.provider, clock=clock)
    list_export_emails = providers.Singleton(ListExportEmails, unit_of_work=unit_of_work.provider)
    request_export = providers.Singleton(
        RequestExport, unit_of_work=unit_of_work.provider, clock=clock, notifier=generator
    )
    list_exports = providers.Singleton(ListExports, unit_of_work=unit_of_work.provider, clock=clock)
    download_export = providers.Singleton(
        DownloadExport,
        unit_of_work=unit_of_work.provider,
        files=file_store,
        links=links,
        clock=clock,
    )
    seed_demo = providers.Singleton(
        SeedDemo,
        unit_of_work=unit_of_work.provider,
        api_keys=api_keys,
        clock=clock,
        link_ttl=settings.provided.link_ttl,
        writer=export_file_writer,
    )

    database_probe = providers.Selector(storage, memory=memory_store, sql=database)
    check_readiness = providers.Singleton(
        CheckReadiness, probe=database_probe, timeout=settings.provided.readiness_timeout
    )
    scrape_metrics = providers.Singleton(
        ScrapeMetrics,
        unit_of_work=unit_of_work.provider,
        clock=clock,
        exposition=metrics,
        timeout=settings.provided.readiness_timeout,
    )
