"""SQL adapters on SQLAlchemy 2 (async Core): SQLite embedded, PostgreSQL in production."""

from export_resend.adapters.sql.api_keys import SqlAlchemyApiKeyStore
from export_resend.adapters.sql.database import Database
from export_resend.adapters.sql.sessions import SqlAlchemySessionStore
from export_resend.adapters.sql.unit_of_work import SqlAlchemyUnitOfWork

__all__ = [
    "Database",
    "SqlAlchemyApiKeyStore",
    "SqlAlchemySessionStore",
    "SqlAlchemyUnitOfWork",
]
