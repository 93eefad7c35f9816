"""Settings: the EXPORT_RESEND_* names, friendly durations, a bare From address."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from export_resend.adapters.files import LocalFileStore
from export_resend.adapters.memory import InMemoryFileStore
from export_resend.adapters.s3 import S3FileStore
from export_resend.container import Container
from export_resend.settings import (
    DatabaseDriver,
    LocalFiles,
    LogFormat,
    LogLevel,
    MailerKind,
    S3Files,
    Settings,
)


def test_defaults_are_the_embedded_ones() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///export-resend.db"
    assert settings.mailer is MailerKind.CONSOLE
    assert settings.mail_from == "exports@localhost.localdomain"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.link_ttl == timedelta(days=7)
    assert settings.link_secret is None


def test_values_come_from_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_RESEND_MAILER", "memory")
    monkeypatch.setenv("EXPORT_RESEND_MAIL_FROM", "no-reply@pay.example.com")
    monkeypatch.setenv("EXPORT_RESEND_LINK_TTL", "12 hours")
    monkeypatch.setenv("EXPORT_RESEND_LINK_SECRET", "from-the-vault")
    settings = Settings()
    assert settings.mailer is MailerKind.MEMORY
    assert settings.mail_domain == "pay.example.com"
    assert settings.link_ttl == timedelta(hours=12)
    assert settings.link_secret is not None
    assert settings.link_secret.get_secret_value() == "from-the-vault"
    assert "from-the-vault" not in repr(settings)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7 days", timedelta(days=7)),
        ("1 week", timedelta(weeks=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("P2D", timedelta(days=2)),
        ("3600", timedelta(hours=1)),
    ],
)
def test_link_ttl_reads_like_people_write_it(raw: str, expected: timedelta) -> None:
    assert Settings(link_ttl=raw).link_ttl == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["0", "-5", "soon", "7 fortnights"])
def test_a_link_ttl_that_is_not_a_positive_duration_is_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="link_ttl"):
        Settings(link_ttl=raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw", ["Exports <exports@example.com>", "exports", "a@b.com\r\nBcc: x@y.com"]
)
def test_mail_from_must_be_a_bare_address(raw: str) -> None:
    with pytest.raises(ValidationError, match="mail_from"):
        Settings(mail_from=raw)


def test_an_unknown_mailer_is_refused() -> None:
    with pytest.raises(ValidationError, match="mailer"):
        Settings(mailer="carrier-pigeon")  # type: ignore[arg-type]


def test_a_database_this_version_cannot_use_is_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="postgresql") as refused:
        Settings(database_url="mysql+aiomysql://u:hunter2@db/x")
    assert "hunter2" not in str(refused.value)


POSTGRESQL = "postgresql+asyncpg://u@db.example.com/x"
SQLITE = "sqlite+aiosqlite:///x.db"


@pytest.mark.parametrize(
    ("url", "given", "chosen"),
    [
        (POSTGRESQL, None, DatabaseDriver.ASYNCPG),
        (POSTGRESQL, "sqlalchemy", DatabaseDriver.SQLALCHEMY),
        (POSTGRESQL, "ASYNCPG", DatabaseDriver.ASYNCPG),
        (SQLITE, None, DatabaseDriver.SQLALCHEMY),
        (SQLITE, "sqlalchemy", DatabaseDriver.SQLALCHEMY),
    ],
)
def test_the_database_driver_is_asyncpg_on_postgresql_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, url: str, given: str | None, chosen: DatabaseDriver
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", url)
    if given is not None:
        monkeypatch.setenv("EXPORT_RESEND_DATABASE_DRIVER", given)
    assert Settings().sql_driver is chosen


@pytest.mark.parametrize("url", [SQLITE, "memory://"])
def test_asyncpg_is_refused_for_a_database_other_than_postgresql(url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_DRIVER=asyncpg needs a postgresql"):
        Settings(database_url=url, database_driver=DatabaseDriver.ASYNCPG)


def test_an_unknown_database_driver_is_refused() -> None:
    with pytest.raises(ValidationError, match="database_driver"):
        Settings(database_url=POSTGRESQL, database_driver="psycopg")  # type: ignore[arg-type]


def test_the_smtp_relay_and_the_outbox_are_configured_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "MAILER": "smtp",
        "SMTP_HOST": "relay.internal",
        "SMTP_PORT": "465",
        "SMTP_TLS": "tls",
        "SMTP_USERNAME": "exports",
        "SMTP_PASSWORD": "s3cret-relay",
        "SMTP_TIMEOUT": "10",
        "DELIVERY_MAX_ATTEMPTS": "5",
        "DELIVERY_RETRY_FIRST": "10 seconds",
        "DELIVERY_RETRY_MAX": "10 minutes",
        "DELIVERY_LEASE": "1 minute",
        "DISPATCH_CONCURRENCY": "2",
        "SERVE_DISPATCHER": "false",
    }.items():
        monkeypatch.setenv(f"EXPORT_RESEND_{name}", value)
    settings = Settings()
    assert (settings.mailer, settings.smtp_host, settings.smtp_port) == (
        MailerKind.SMTP,
        "relay.internal",
        465,
    )
    assert settings.smtp_tls == "tls"
    assert "s3cret-relay" not in repr(settings)
    policy = settings.retry_policy
    assert (policy.max_attempts, policy.first_delay, policy.max_delay) == (
        5,
        timedelta(seconds=10),
        timedelta(minutes=10),
    )
    assert settings.delivery_lease == timedelta(minutes=1)
    assert (settings.dispatch_concurrency, settings.serve_dispatcher) == (2, False)


def test_the_smtp_defaults_are_the_specifications() -> None:
    settings = Settings()
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == (
        "localhost",
        25,
        "starttls",
    )
    assert (settings.smtp_username, settings.smtp_password, settings.smtp_timeout) == (
        None,
        None,
        30.0,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp_timeout": 90}, "EXPORT_RESEND_DELIVERY_LEASE must be at least twice"),
        ({"smtp_username": "exports"}, "set both EXPORT_RESEND_SMTP_USERNAME"),
        ({"smtp_tls": "opportunistic"}, "smtp_tls"),
        (
            {"delivery_retry_first": "2 hours", "delivery_retry_max": "1 hour"},
            "must not exceed",
        ),
        ({"dispatch_concurrency": 0}, "dispatch_concurrency"),
        ({"idempotency_retention": "30 seconds"}, "IDEMPOTENCY_RETENTION must be at least"),
        ({"resend_limit_per_hour": 0}, "resend_limit_per_hour"),
    ],
)
def test_incoherent_delivery_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate(values)


def test_logs_are_json_at_info_and_readiness_waits_two_seconds_by_default() -> None:
    settings = Settings()
    assert (settings.log_format, settings.log_level) == (LogFormat.JSON, LogLevel.INFO)
    assert settings.readiness_timeout == 2.0


def test_log_settings_are_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_RESEND_LOG_FORMAT", "Console")
    monkeypatch.setenv("EXPORT_RESEND_LOG_LEVEL", "debug")
    monkeypatch.setenv("EXPORT_RESEND_READINESS_TIMEOUT", "0.5")
    settings = Settings()
    assert (settings.log_format, settings.log_level) == (LogFormat.CONSOLE, LogLevel.DEBUG)
    assert settings.readiness_timeout == 0.5


@pytest.mark.parametrize(
    ("name", "raw"),
    [("log_format", "xml"), ("log_level", "chatty"), ("readiness_timeout", "0")],
)
def test_unknown_log_settings_and_a_zero_timeout_are_refused(name: str, raw: str) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings.model_validate({name: raw})


def test_a_refusal_never_prints_the_values_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_RESEND_SMTP_PASSWORD", "hunter2-relay-password")
    monkeypatch.setenv("EXPORT_RESEND_LINK_SECRET", "link-secret-from-the-vault")
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", "postgresql+asyncpg://u:db-password@h/d")
    with pytest.raises(ValidationError, match="set both") as refused:
        Settings()
    for secret in ("hunter2-relay-password", "link-secret-from-the-vault", "db-password"):
        assert secret not in str(refused.value)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, LocalFiles(Path("export-files"))),
        ({"FILES_URL": "file:///var/lib/exports"}, LocalFiles(Path("/var/lib/exports"))),
        ({"FILES_URL": "file://localhost/var/lib/exports"}, LocalFiles(Path("/var/lib/exports"))),
        ({"FILES_URL": "file:export-files"}, LocalFiles(Path("export-files"))),
        ({"FILES_URL": "file:../shared/My%20Exports"}, LocalFiles(Path("../shared/My Exports"))),
        ({"FILES_DIR": "/srv/files"}, LocalFiles(Path("/srv/files"))),
        (
            {"FILES_URL": "file:///srv/files", "FILES_DIR": "/srv/files/"},
            LocalFiles(Path("/srv/files")),
        ),
        ({"FILES_URL": "file:./files", "FILES_DIR": "files"}, LocalFiles(Path("files"))),
        ({"FILES_URL": "s3://exports-prod"}, S3Files("exports-prod", "")),
        ({"FILES_URL": "s3://exports-prod/"}, S3Files("exports-prod", "")),
        ({"FILES_URL": "s3://exports.prod/eu/csv/"}, S3Files("exports.prod", "eu/csv")),
    ],
)
def test_files_are_kept_where_the_files_url_or_the_older_files_dir_says(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: LocalFiles | S3Files
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(f"EXPORT_RESEND_{name}", value)
    assert Settings().files == expected


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"FILES_URL": "./export-files"}, "file:///DIR, file:DIR"),
        ({"FILES_URL": "https://bucket.example.com/x"}, "file:///DIR, file:DIR"),
        ({"FILES_URL": "file://fileserver/exports"}, "of this machine"),
        ({"FILES_URL": "file:"}, "names a directory"),
        ({"FILES_URL": "file:///srv/files?mode=fast"}, "no query"),
        ({"FILES_URL": "s3://"}, "bucket name"),
        ({"FILES_URL": "s3://Exports/x"}, "bucket name"),
        ({"FILES_URL": "s3://ex/x"}, "bucket name"),
        ({"FILES_URL": "s3://exports-/x"}, "bucket name"),
        ({"FILES_URL": "s3://exports/a//b"}, "no empty"),
        ({"FILES_URL": "s3://exports/a/../b"}, "no empty"),
        ({"FILES_URL": "s3://exports/a%0Ab"}, "printable"),
        (
            {"FILES_URL": "file:///srv/a", "FILES_DIR": "/srv/b"},
            r"EXPORT_RESEND_FILES_URL \(file:///srv/a\) and EXPORT_RESEND_FILES_DIR \(/srv/b\)",
        ),
        ({"FILES_URL": "s3://exports", "FILES_DIR": "export-files"}, "name different places"),
        ({"S3_REGION": "eu-west-3"}, "are for an s3:// EXPORT_RESEND_FILES_URL"),
        ({"FILES_DIR": "x", "S3_FORCE_PATH_STYLE": "true"}, "are for an s3://"),
        ({"FILES_URL": "s3://exports", "S3_ENDPOINT_URL": "minio:9000"}, "http:// or https://"),
        ({"FILES_URL": "s3://exports", "S3_ENDPOINT_URL": "ftp://minio"}, "http:// or https://"),
        (
            {"FILES_URL": "s3://exports", "S3_ENDPOINT_URL": "https://key:secret@minio"},
            "must not hold credentials",
        ),
    ],
)
def test_a_files_url_that_cannot_be_used_is_refused_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(f"EXPORT_RESEND_{name}", value)
    with pytest.raises(ValidationError, match=message) as refused:
        Settings()
    assert "secret" not in str(refused.value)


def test_the_s3_settings_are_read_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_RESEND_FILES_URL", "s3://exports/prod")
    monkeypatch.setenv("EXPORT_RESEND_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("EXPORT_RESEND_S3_REGION", "eu-west-3")
    monkeypatch.setenv("EXPORT_RESEND_S3_FORCE_PATH_STYLE", "true")
    settings = Settings()
    assert (settings.s3_endpoint_url, settings.s3_region, settings.s3_force_path_style) == (
        "http://127.0.0.1:9000",
        "eu-west-3",
        True,
    )


def test_the_file_store_is_the_one_the_settings_name(tmp_path: Path) -> None:
    local = Container(settings=Settings(files_url=f"file://{tmp_path}")).file_store()
    assert isinstance(local, LocalFileStore)
    s3 = Container(
        settings=Settings(
            files_url="s3://exports/eu/csv",
            s3_endpoint_url="http://127.0.0.1:9000",
            s3_force_path_style=True,
        )
    ).file_store()
    assert isinstance(s3, S3FileStore)
    assert (s3.bucket, s3.prefix) == ("exports", "eu/csv")
    in_memory = Settings(database_url="memory://", files_url="s3://exports")
    assert isinstance(Container(settings=in_memory).file_store(), InMemoryFileStore)
