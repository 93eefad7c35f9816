"""SQL storage: SQLite embedded, PostgreSQL in production.

This package holds what both drivers share, written once: the tables (``schema``), the
migrations, the rows (``rows``), the statements (``statements``), the repositories
(``repositories``), what the drivers' errors mean (``errors``) and the ``Database`` (engine,
pool, migrations). ``core`` runs the unit of work on SQLAlchemy Core, ``asyncpg`` on asyncpg
itself; neither knows the other, and the container chooses between them.
"""

from export_resend.adapters.sql.asyncpg import AsyncpgUnitOfWork
from export_resend.adapters.sql.core import (
    SqlAlchemyApiKeyStore,
    SqlAlchemySessionStore,
    SqlAlchemyUnitOfWork,
)
from export_resend.adapters.sql.database import Database

__all__ = [
    "AsyncpgUnitOfWork",
    "Database",
    "SqlAlchemyApiKeyStore",
    "SqlAlchemySessionStore",
    "SqlAlchemyUnitOfWork",
]
