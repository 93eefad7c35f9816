"""The unit of work on asyncpg itself: PostgreSQL's fast path, the service's default there."""

from export_resend.adapters.sql.asyncpg.unit_of_work import AsyncpgUnitOfWork

__all__ = ["AsyncpgUnitOfWork"]
