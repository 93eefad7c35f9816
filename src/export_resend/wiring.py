"""The few choices the container's providers call on: which secret signs download links, where
files are kept, and how the SMTP relay is reached. Kept here so that the container holds
providers only."""

from __future__ import annotations

import logging
import secrets
import ssl

from export_resend.adapters.files import LocalFileStore
from export_resend.adapters.memory import InMemorySessionStore
from export_resend.adapters.smtp import SmtpMailer
from export_resend.adapters.sql import Database, SqlAlchemySessionStore
from export_resend.application.sessions import SessionStore
from export_resend.domain.ports import FileStore
from export_resend.settings import LocalFiles, Settings, UnsupportedSetting

log = logging.getLogger(__name__)


def link_secret(settings: Settings, database: Database | None) -> str:
    """The configured secret; else, on the embedded default, one made once and kept in a
    file beside the SQLite file; with no database, a random one for this process."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value()
    if database is None:
        log.warning("EXPORT_RESEND_LINK_SECRET is not set: links die with this process")
        return secrets.token_urlsafe(32)
    if database.file is None:
        raise UnsupportedSetting(
            "EXPORT_RESEND_LINK_SECRET is required with a database other than a SQLite file"
        )
    try:
        return database.kept_secret()
    except ValueError as exc:
        raise UnsupportedSetting(str(exc)) from None


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


def session_store(database: Database | None) -> SessionStore:
    """The operator page's sessions: in our database, or in this process without one."""
    if database is None:
        return InMemorySessionStore()
    return SqlAlchemySessionStore(database.engine)
