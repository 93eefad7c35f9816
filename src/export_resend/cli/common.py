"""What every command shares: the service it runs on, and how it refuses."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from export_resend.service import ExportResend
from export_resend.settings import Settings, UnsupportedSetting


class Refused(Exception):
    """A command that cannot be done as asked; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def service(settings: Settings, *, background: bool) -> ExportResend:
    """The service for one command: with its background work, or only its storage."""
    return ExportResend(settings.model_copy(update={"serve_dispatcher": background}))


def require_database(settings: Settings, why: str) -> None:
    """Refuse ``memory://``, which keeps nothing between processes: ``why`` says what needed
    a database."""
    if settings.storage == "memory":
        raise UnsupportedSetting(f"{why}: set EXPORT_RESEND_DATABASE_URL")


def shown_url(settings: Settings, *, user: bool) -> str:
    """The database URL for people: never its password, nor its query (asyncpg takes
    ``?password=`` too); its user only if ``user``."""
    try:
        url = make_url(settings.database_url)
    except (ValueError, ArgumentError):
        return "(unreadable URL)"
    # a password with an unencoded '@' ends at it for the parser, the rest taken for the host
    host = url.host.rpartition("@")[2] if url.host else None
    shown = URL.create(
        url.drivername,
        username=url.username if user else None,
        password=url.password if user else None,
        host=host,
        port=url.port,
        database=url.database,
    )
    return shown.render_as_string(hide_password=True)
