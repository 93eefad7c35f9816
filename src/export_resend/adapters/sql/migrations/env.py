"""Alembic's environment: migrations run on a connection that export-resend hands over.

Use ``export-resend db upgrade`` (or ``Database.upgrade``); the ``alembic`` command line is not
configured for this package.
"""

from __future__ import annotations

from alembic import context

from export_resend.adapters.sql.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run migrations with 'export-resend db upgrade', on a live connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transactional_ddl=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
