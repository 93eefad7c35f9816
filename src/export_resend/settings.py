"""Configuration from ``EXPORT_RESEND_*`` environment variables (names are public)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from export_resend.adapters.ses import check_topic_arn
from export_resend.adapters.smtp import SmtpTls
from export_resend.adapters.standard_webhooks import check_webhook_secret
from export_resend.domain.delivery import RetryPolicy

_DURATION = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


def _friendly_duration(value: Any) -> Any:
    """Accept ``7 days``, ``12 hours``, plain seconds (``3600``) and ISO 8601 (``P7D``)."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(**{f"{match[2].lower()}s": int(match[1])})
    if isinstance(value, str) and value.strip().isdigit():
        return timedelta(seconds=int(value))
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _bare_from(value: str) -> str:
    name, address = parseaddr(value)
    if name or address != value or "@" not in address or any(c in value for c in "\r\n\0"):
        raise ValueError("must be a bare address such as exports@example.com")
    return value


class UnsupportedSetting(ValueError):
    """A setting names something this version cannot do, or lacks something it needs."""


def _usable_database(url: str) -> str:
    # never echo a password: before the last '@', or in the query (asyncpg takes ?password=)
    shown = url.rpartition("@")[2].partition("?")[0]
    if url == "memory://":
        return url
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ValueError(
            f"…{shown!r} cannot be used: give sqlite+aiosqlite:///PATH, "
            "postgresql+asyncpg://USER@HOST/DB or memory://"
        )
    try:
        port = make_url(url).port
    except (ValueError, ArgumentError):
        raise ValueError(f"…{shown!r} is not a URL that can be read") from None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"…{shown!r} names port {port}, outside 1 to 65535")
    return url


class DatabaseDriver(StrEnum):
    """What runs the units of work on PostgreSQL: asyncpg itself (the default there), or
    SQLAlchemy Core (what SQLite, and a host's own ``engine=``, always use)."""

    ASYNCPG = "asyncpg"
    SQLALCHEMY = "sqlalchemy"


class MailerKind(StrEnum):
    """Where emails go: printed to the console, sent to an SMTP relay, or kept in memory."""

    CONSOLE = "console"
    SMTP = "smtp"
    MEMORY = "memory"


def _folded(fold: Callable[[str], str]) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        return fold(value.strip()) if isinstance(value, str) else value

    return validate


class LogFormat(StrEnum):
    """How log lines are written: one JSON object each, or aligned text for people."""

    JSON = "json"
    CONSOLE = "console"


class LogLevel(StrEnum):
    """The least severe level written."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


Duration = Annotated[timedelta, BeforeValidator(_friendly_duration), AfterValidator(_positive)]


@dataclass(frozen=True)
class LocalFiles:
    """Files in a directory of this machine (relative to the working directory)."""

    directory: Path


@dataclass(frozen=True)
class S3Files:
    """Files as objects under ``prefix`` (no slash at either end; may be empty) in ``bucket``."""

    bucket: str
    prefix: str


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[^\x00-\x1f\x7f]+")
DEFAULT_FILES = LocalFiles(Path("export-files"))


def files_location(url: str) -> LocalFiles | S3Files:
    """Where ``EXPORT_RESEND_FILES_URL`` puts files: ``file:///absolute/dir``,
    ``file:relative/dir`` or ``s3://bucket/optional/prefix``; ``ValueError`` otherwise."""
    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise ValueError("EXPORT_RESEND_FILES_URL takes no query or fragment")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError("a file: URL names a directory of this machine: file:///DIR")
        path = unquote(parts.path)
        if not path or "\0" in path:
            raise ValueError("a file: URL names a directory: file:///DIR or file:DIR")
        return LocalFiles(Path(path))
    if parts.scheme == "s3":
        if not _BUCKET.fullmatch(parts.netloc) or ".." in parts.netloc:
            raise ValueError(
                "s3://BUCKET/PREFIX needs a bucket name: 3 to 63 lower-case letters, digits,"
                " '.' and '-', starting and ending with a letter or a digit"
            )
        prefix = unquote(parts.path).strip("/")
        segments = prefix.split("/") if prefix else []
        if not all(_PREFIX_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
            raise ValueError(
                "the prefix of s3://BUCKET/PREFIX is segments of printable characters"
                " (no empty, '.' or '..' segment)"
            )
        return S3Files(parts.netloc, prefix)
    raise ValueError(
        "EXPORT_RESEND_FILES_URL is file:///DIR, file:DIR (relative) or s3://BUCKET/PREFIX"
    )


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL, such as https://minio.example.com")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials: use AWS_ACCESS_KEY_ID and its kin")
    if parts.query or parts.fragment:
        raise ValueError("must have no query or fragment")
    return value


def _topic_arns(value: Any) -> Any:
    """``EXPORT_RESEND_SES_TOPIC_ARNS``: ARNs separated by commas (blanks around them ignored),
    each checked, each kept once, in the order given."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return tuple(dict.fromkeys(check_topic_arn(arn) for arn in value))
    return value


def _webhook_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        check_webhook_secret(value.get_secret_value())
    return value


def _same_directory(first: Path, second: Path) -> bool:
    return os.path.normpath(first.absolute()) == os.path.normpath(second.absolute())


class Settings(BaseSettings):
    """Everything the service can be told from outside. Read once, when the app is built."""

    # an error names the setting, never the values given: they may hold passwords
    model_config = SettingsConfigDict(
        env_prefix="EXPORT_RESEND_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    database_url: Annotated[str, AfterValidator(_usable_database)] = (
        "sqlite+aiosqlite:///export-resend.db"
    )
    database_pool_size: Annotated[int, Field(ge=1, le=1000)] = 20
    database_driver: Annotated[DatabaseDriver | None, BeforeValidator(_folded(str.lower))] = None
    """``asyncpg`` or ``sqlalchemy``; unset, asyncpg on PostgreSQL, SQLAlchemy on SQLite
    (``sql_driver`` says which)."""
    api_key_cache_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    mailer: MailerKind = MailerKind.CONSOLE
    mail_from: Annotated[str, AfterValidator(_bare_from)] = "exports@localhost.localdomain"
    public_base_url: str = "http://127.0.0.1:8000"
    link_secret: SecretStr | None = None
    link_ttl: Duration = timedelta(days=7)

    smtp_host: str = "localhost"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpTls = SmtpTls.STARTTLS
    smtp_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    smtp_ca_file: FilePath | None = None
    """Trust this CA bundle (PEM) for the relay's certificate instead of the system's."""

    delivery_max_attempts: Annotated[int, Field(ge=1, le=1000)] = 20
    delivery_retry_first: Duration = timedelta(seconds=30)
    delivery_retry_max: Duration = timedelta(hours=1)
    delivery_lease: Duration = timedelta(minutes=2)
    dispatch_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    dispatch_poll_interval: Annotated[float, Field(gt=0, le=3600)] = 1.0
    serve_dispatcher: bool = True
    """Whether ``serve`` runs a dispatcher, a generator and the expiry sweep in its own
    process (``worker`` always does)."""

    files_url: str | None = None
    """Where the CSV files are kept: ``file:///DIR``, ``file:DIR`` (relative) or
    ``s3://BUCKET/PREFIX``; ``settings.files`` reads it. ``./export-files`` if unset."""
    files_dir: Path | None = None
    """The older name of a ``file:`` ``files_url``: a directory."""
    s3_endpoint_url: Annotated[str | None, AfterValidator(_http_url)] = None
    """The S3 API of a service other than AWS (MinIO, R2, Ceph, ...); ``http://`` is used
    as given."""
    s3_region: str | None = None
    """The bucket's region (else AWS_REGION, AWS_DEFAULT_REGION or the profile's)."""
    s3_force_path_style: bool = False
    """Put the bucket in the URL's path rather than in its host name."""
    generation_concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    generation_lease: Duration = timedelta(minutes=5)
    generation_max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    expiry_sweep_interval: Duration = timedelta(minutes=1)
    demo_rows: Annotated[int, Field(ge=0, le=100_000_000)] = 1000
    """How many rows the bundled demo source generates per export (before filters)."""
    demo_seed: int = 0

    resend_limit_per_hour: Annotated[int, Field(ge=1, le=10_000)] = 5
    """Resends of one export allowed in any rolling hour, counted in the database."""
    idempotency_retention: Duration = timedelta(hours=24)
    """How long an ``Idempotency-Key`` and its stored response are kept."""
    idempotency_lease: Duration = timedelta(seconds=60)
    """How long a request in flight holds its ``Idempotency-Key`` before a retry may take
    it over (a process that died mid-request holds it no longer than this)."""

    ui_session_lifetime: Duration = timedelta(hours=8)
    """How long a sign-in to the operator page lasts at most, however busy."""
    ui_session_idle: Duration = timedelta(minutes=30)
    """How long a sign-in to the operator page lasts unused."""
    ses_topic_arns: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_topic_arns)] = ()
    """The SNS topics whose SES events are taken, comma-separated ARNs; none if empty (SNS
    signs the messages of any AWS account's topic, so the topic is what says they are ours)."""
    webhook_secret: Annotated[SecretStr | None, AfterValidator(_webhook_secret)] = None
    """The Standard Webhooks secret (``whsec_…``) that signs delivery events; none if unset."""

    log_format: Annotated[LogFormat, BeforeValidator(_folded(str.lower))] = LogFormat.JSON
    log_level: Annotated[LogLevel, BeforeValidator(_folded(str.upper))] = LogLevel.INFO
    readiness_timeout: Annotated[float, Field(gt=0, le=60)] = 2.0
    """Seconds ``/readyz`` (and ``/metrics``, for the queues) waits for the database."""

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        files = self.files
        if self.delivery_retry_first > self.delivery_retry_max:
            raise ValueError(
                "EXPORT_RESEND_DELIVERY_RETRY_FIRST must not exceed"
                " EXPORT_RESEND_DELIVERY_RETRY_MAX"
            )
        if self.delivery_lease.total_seconds() < 2 * self.smtp_timeout:
            raise ValueError(
                "EXPORT_RESEND_DELIVERY_LEASE must be at least twice EXPORT_RESEND_SMTP_TIMEOUT,"
                " or a slow send would lose its lease and be sent twice"
            )
        if self.idempotency_retention < self.idempotency_lease:
            raise ValueError(
                "EXPORT_RESEND_IDEMPOTENCY_RETENTION must be at least"
                " EXPORT_RESEND_IDEMPOTENCY_LEASE, or a key could be forgotten while its"
                " request still runs"
            )
        if self.ui_session_idle > self.ui_session_lifetime:
            raise ValueError(
                "EXPORT_RESEND_UI_SESSION_IDLE must not exceed EXPORT_RESEND_UI_SESSION_LIFETIME"
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "set both EXPORT_RESEND_SMTP_USERNAME and EXPORT_RESEND_SMTP_PASSWORD, or neither"
            )
        if self.database_driver is DatabaseDriver.ASYNCPG and not self._postgresql:
            raise ValueError(
                "EXPORT_RESEND_DATABASE_DRIVER=asyncpg needs a postgresql+asyncpg://"
                " EXPORT_RESEND_DATABASE_URL"
            )
        s3_options = self.s3_endpoint_url or self.s3_region or self.s3_force_path_style
        if s3_options and not isinstance(files, S3Files):
            raise ValueError(
                "EXPORT_RESEND_S3_ENDPOINT_URL, EXPORT_RESEND_S3_REGION and"
                " EXPORT_RESEND_S3_FORCE_PATH_STYLE are for an s3:// EXPORT_RESEND_FILES_URL"
            )
        return self

    @property
    def storage(self) -> Literal["memory", "sql"]:
        """``memory`` for ``memory://`` (nothing survives the process), else ``sql``."""
        return "memory" if self.database_url == "memory://" else "sql"

    @property
    def sql_driver(self) -> DatabaseDriver:
        """What runs the units of work on the SQL database: ``database_driver`` if set,
        else asyncpg on PostgreSQL and SQLAlchemy Core on SQLite."""
        if self.database_driver is not None:
            return self.database_driver
        return DatabaseDriver.ASYNCPG if self._postgresql else DatabaseDriver.SQLALCHEMY

    @property
    def _postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def files(self) -> LocalFiles | S3Files:
        """Where the CSV files are kept: ``files_url``, or ``files_dir``, or the default."""
        if self.files_url is None:
            return DEFAULT_FILES if self.files_dir is None else LocalFiles(self.files_dir)
        files = files_location(self.files_url)
        if self.files_dir is not None and not (
            isinstance(files, LocalFiles) and _same_directory(files.directory, self.files_dir)
        ):
            raise ValueError(
                f"EXPORT_RESEND_FILES_URL ({self.files_url}) and EXPORT_RESEND_FILES_DIR"
                f" ({self.files_dir}) name different places: set only EXPORT_RESEND_FILES_URL"
            )
        return files

    @property
    def retry_policy(self) -> RetryPolicy:
        """How often and how far apart deliveries are tried."""
        return RetryPolicy(
            max_attempts=self.delivery_max_attempts,
            first_delay=self.delivery_retry_first,
            max_delay=self.delivery_retry_max,
        )

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies are ``Secure``: the service is reached in https."""
        return self.public_base_url.lower().startswith("https://")

    @property
    def mail_domain(self) -> str:
        """The domain of the From address, used to make Message-IDs."""
        return self.mail_from.rpartition("@")[2]
