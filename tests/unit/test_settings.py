"""Settings: the EXPORT_RESEND_* names, friendly durations, a bare From address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from export_resend.container import Container, UnsupportedSetting
from export_resend.settings import MailerKind, Settings


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
    container = Container(settings=Settings(database_url="mysql+aiomysql://db/x"))
    with pytest.raises(UnsupportedSetting, match="postgresql"):
        container.unit_of_work()
