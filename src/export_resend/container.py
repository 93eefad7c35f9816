"""The composition root: the one place that chooses adapters and wires use cases."""

from __future__ import annotations

from dependency_injector import containers, providers

from export_resend.adapters.caching import CachingApiKeyStore
from export_resend.adapters.clock import SystemClock
from export_resend.adapters.console import ConsoleMailer
from export_resend.adapters.demo import DemoRowSource, SeedDemo
from export_resend.adapters.jinja import JinjaEmailComposer, default_templates
from export_resend.adapters.memory import (
    InMemoryApiKeyStore,
    InMemoryFileStore,
    InMemoryMailer,
    InMemoryStore,
    InMemoryUnitOfWork,
)
from export_resend.adapters.prometheus import PrometheusMetrics
from export_resend.adapters.signing import ItsdangerousDownloadLinks
from export_resend.adapters.sql import (
    AsyncpgUnitOfWork,
    Database,
    SqlAlchemyApiKeyStore,
    SqlAlchemyUnitOfWork,
)
from export_resend.adapters.worker import (
    AsyncioBoundedCall,
    BackgroundWork,
    DeliveryDispatcher,
    ExpirySweeper,
    ExportGenerator,
)
from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.check_readiness import CheckReadiness
from export_resend.application.create_api_key import CreateApiKey
from export_resend.application.download_export import DownloadExport
from export_resend.application.expiry import ExpireExports
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
from export_resend.application.list_api_keys import ListApiKeys
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports
from export_resend.application.outbox import (
    ClaimDueEmails,
    ReleaseClaimedEmails,
    SendClaimedEmail,
)
from export_resend.application.request_export import RequestExport
from export_resend.application.resend_export_email import ResendExportEmail
from export_resend.application.revoke_api_key import RevokeApiKey
from export_resend.application.scrape_metrics import ReadQueues, ScrapeMetrics
from export_resend.application.sessions import ResumeSession, SignIn, SignOut
from export_resend.domain.delivery import ResendLimit
from export_resend.domain.export_types import row_source_types
from export_resend.lifecycle import (
    Lifecycle,
    OpenedApiKeyStore,
    OpenedProbe,
    OpenedSessionStore,
    OpenedUnitOfWork,
)
from export_resend.settings import Settings
from export_resend.wiring import link_secret, named_file_store, session_store, smtp_mailer


class Container(containers.DeclarativeContainer):
    """Adapters chosen from ``settings``; use cases built on them. Nothing runs at import."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(PrometheusMetrics)
    """Every metric of this container's service, in a registry of its own."""

    storage = settings.provided.storage
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
    database_driver = providers.Callable(lambda settings: settings.sql_driver, settings)
    """Which package runs SQL units of work: ``asyncpg`` or ``sqlalchemy`` (the setting, or
    the database's default; a host's ``engine=`` overrides it with ``sqlalchemy``)."""
    unit_of_work = providers.Selector(
        storage,
        memory=providers.Factory(InMemoryUnitOfWork, memory_store),
        sql=providers.Selector(
            database_driver,
            asyncpg=providers.Factory(AsyncpgUnitOfWork, database.provided.engine),
            sqlalchemy=providers.Factory(
                SqlAlchemyUnitOfWork, database.provided.engine, database.provided.writers
            ),
        ),
    )
    """A new unit of work per call: a host service overrides it with its own."""
    lifecycle = providers.Singleton(Lifecycle)
    opened_unit_of_work = providers.Singleton(OpenedUnitOfWork, unit_of_work.provider, lifecycle)
    """What the use cases are given: units of work, only while the service runs."""
    stored_api_keys = providers.Selector(
        storage,
        memory=providers.Singleton(InMemoryApiKeyStore),
        sql=providers.Singleton(SqlAlchemyApiKeyStore, database.provided.engine),
    )
    api_keys = providers.Singleton(
        OpenedApiKeyStore,
        providers.Singleton(
            CachingApiKeyStore,
            stored_api_keys,
            ttl_seconds=settings.provided.api_key_cache_seconds,
        ),
        lifecycle,
    )

    mailer = providers.Selector(
        settings.provided.mailer,
        console=providers.Singleton(ConsoleMailer),
        smtp=providers.Singleton(smtp_mailer, settings),
        memory=providers.Singleton(InMemoryMailer),
    )

    file_store = providers.Selector(
        storage,
        memory=providers.Singleton(InMemoryFileStore),
        sql=providers.Singleton(named_file_store, settings),
    )
    row_source = providers.Singleton(
        DemoRowSource, rows=settings.provided.demo_rows, seed=settings.provided.demo_seed
    )
    """Where export rows come from: a host service overrides this with its own source."""

    secret = providers.Singleton(link_secret, settings, database)
    """Signs download links, and (with keys derived from it) the operator page's cookies."""
    links = providers.Singleton(
        ItsdangerousDownloadLinks,
        secret=secret,
        public_base_url=settings.provided.public_base_url,
    )
    composer = providers.Singleton(
        JinjaEmailComposer,
        sender=settings.provided.mail_from,
        templates=providers.Singleton(default_templates),
    )

    claim_due_emails = providers.Singleton(
        ClaimDueEmails,
        unit_of_work=opened_unit_of_work,
        clock=clock,
        lease=settings.provided.delivery_lease,
    )
    send_claimed_email = providers.Singleton(
        SendClaimedEmail,
        unit_of_work=opened_unit_of_work,
        mailer=mailer,
        composer=composer,
        links=links,
        clock=clock,
        retry=settings.provided.retry_policy,
        metrics=metrics,
    )
    release_claimed_emails = providers.Singleton(
        ReleaseClaimedEmails, unit_of_work=opened_unit_of_work, clock=clock
    )
    dispatcher = providers.Singleton(
        DeliveryDispatcher,
        claim=claim_due_emails,
        send=send_claimed_email,
        release=release_claimed_emails,
        concurrency=settings.provided.dispatch_concurrency,
        poll_interval=settings.provided.dispatch_poll_interval,
    )

    claim_pending_exports = providers.Singleton(
        ClaimPendingExports,
        unit_of_work=opened_unit_of_work,
        clock=clock,
        lease=settings.provided.generation_lease,
    )
    export_file_writer = providers.Singleton(ExportFileWriter, rows=row_source, files=file_store)
    generate_claimed_export = providers.Singleton(
        GenerateClaimedExport,
        unit_of_work=opened_unit_of_work,
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
        ReleaseClaimedExports, unit_of_work=opened_unit_of_work, clock=clock
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
        ExpireExports, unit_of_work=opened_unit_of_work, files=file_store, clock=clock
    )
    purge_idempotency_keys = providers.Singleton(
        PurgeIdempotencyKeys, unit_of_work=opened_unit_of_work, clock=clock
    )
    expiry_sweeper = providers.Singleton(
        ExpirySweeper,
        expire_exports,
        purge=purge_idempotency_keys,
        interval=settings.provided.expiry_sweep_interval.provided.total_seconds.call(),
    )
    background_work = providers.Singleton(
        BackgroundWork, dispatcher=dispatcher, generator=generator, sweeper=expiry_sweeper
    )
    """What ``ExportResend.running()`` runs in the background (unless ``serve_dispatcher``
    is off)."""

    authenticate_caller = providers.Singleton(AuthenticateCaller, api_keys=api_keys, clock=clock)
    sessions = providers.Singleton(
        OpenedSessionStore, providers.Singleton(session_store, database), lifecycle
    )
    """The operator page's sign-ins."""
    sign_in = providers.Singleton(
        SignIn,
        authenticate=authenticate_caller,
        sessions=sessions,
        clock=clock,
        lifetime=settings.provided.ui_session_lifetime,
        idle=settings.provided.ui_session_idle,
    )
    resume_session = providers.Singleton(
        ResumeSession,
        authenticate=authenticate_caller,
        sessions=sessions,
        clock=clock,
        idle=settings.provided.ui_session_idle,
    )
    sign_out = providers.Singleton(SignOut, sessions=sessions)
    create_api_key = providers.Singleton(CreateApiKey, api_keys=api_keys, clock=clock)
    list_api_keys = providers.Singleton(ListApiKeys, api_keys=api_keys)
    revoke_api_key = providers.Singleton(RevokeApiKey, api_keys=api_keys, clock=clock)
    resend_export_email_in = providers.Factory(
        ResendExportEmail,
        unit_of_work=opened_unit_of_work,
        clock=clock,
        notifier=dispatcher,
        message_id_domain=settings.provided.mail_domain,
        limit=providers.Factory(ResendLimit, settings.provided.resend_limit_per_hour),
    )
    """A resend on a given ``unit_of_work=`` (``ExportResend.in_transaction``)."""
    resend_export_email = providers.Singleton(resend_export_email_in)
    begin_idempotent_request = providers.Singleton(
        BeginIdempotentRequest,
        unit_of_work=opened_unit_of_work,
        clock=clock,
        retention=settings.provided.idempotency_retention,
        lease=settings.provided.idempotency_lease,
    )
    release_idempotency_key = providers.Singleton(
        ReleaseIdempotencyKey, unit_of_work=opened_unit_of_work
    )
    get_export = providers.Singleton(GetExport, unit_of_work=opened_unit_of_work, clock=clock)
    list_export_emails = providers.Singleton(ListExportEmails, unit_of_work=opened_unit_of_work)
    export_types = providers.Callable(row_source_types, row_source)
    """The export types the row source serves."""
    request_export_in = providers.Factory(
        RequestExport,
        unit_of_work=opened_unit_of_work,
        clock=clock,
        notifier=generator,
        export_types=export_types,
    )
    """An export request on a given ``unit_of_work=`` (``ExportResend.in_transaction``)."""
    request_export = providers.Singleton(request_export_in)
    list_exports = providers.Singleton(ListExports, unit_of_work=opened_unit_of_work, clock=clock)
    download_export = providers.Singleton(
        DownloadExport,
        unit_of_work=opened_unit_of_work,
        files=file_store,
        links=links,
        clock=clock,
    )
    seed_demo = providers.Singleton(
        SeedDemo,
        unit_of_work=opened_unit_of_work,
        api_keys=api_keys,
        clock=clock,
        link_ttl=settings.provided.link_ttl,
        writer=export_file_writer,
    )

    database_probe = providers.Selector(storage, memory=memory_store, sql=database)
    check_readiness = providers.Singleton(
        CheckReadiness,
        ping=providers.Singleton(
            AsyncioBoundedCall,
            providers.Singleton(OpenedProbe, database_probe, lifecycle).provided.ping,
            timeout=settings.provided.readiness_timeout,
        ),
    )
    scrape_metrics = providers.Singleton(
        ScrapeMetrics,
        queues=providers.Singleton(
            AsyncioBoundedCall,
            providers.Singleton(ReadQueues, unit_of_work=opened_unit_of_work, clock=clock),
            timeout=settings.provided.readiness_timeout,
        ),
        clock=clock,
        exposition=metrics,
    )
