"""Configuration from ``EXPORT_RESEND_*`` environment variables (names are public)."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class MailerKind(StrEnum):
    """Where emails go: printed to the console, or kept in memory (tests)."""

    CONSOLE = "console"
    MEMORY = "memory"


class Settings(BaseSettings):
    """Everything the service can be told from outside. Read once, when the app is built."""

    model_config = SettingsConfigDict(env_prefix="EXPORT_RESEND_", frozen=True, extra="ignore")

    database_url: str = "sqlite+aiosqlite:///export-resend.db"
    database_pool_size: Annotated[int, Field(ge=1, le=1000)] = 20
    api_key_cache_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    mailer: MailerKind = MailerKind.CONSOLE
    mail_from: Annotated[str, AfterValidator(_bare_from)] = "exports@localhost.localdomain"
    public_base_url: str = "http://127.0.0.1:8000"
    link_secret: SecretStr | None = None
    link_ttl: Annotated[
        timedelta, BeforeValidator(_friendly_duration), AfterValidator(_positive)
    ] = timedelta(days=7)

    @property
    def mail_domain(self) -> str:
        """The domain of the From address, used to make Message-IDs."""
        return self.mail_from.rpartition("@")[2]
