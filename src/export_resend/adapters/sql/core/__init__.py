"""The SQL adapters on SQLAlchemy Core: the unit of work (SQLite, and PostgreSQL for a host's
own engine or transaction), and the API key and session stores (both databases, both
drivers)."""

from export_resend.adapters.sql.core.api_keys import SqlAlchemyApiKeyStore
from export_resend.adapters.sql.core.sessions import SqlAlchemySessionStore
from export_resend.adapters.sql.core.unit_of_work import SqlAlchemyUnitOfWork

__all__ = ["SqlAlchemyApiKeyStore", "SqlAlchemySessionStore", "SqlAlchemyUnitOfWork"]
