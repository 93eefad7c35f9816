"""The outbox claimed by dispatchers: when a delivery is next due, its lease, its last try.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("next_attempt_at", MOMENT, nullable=True))
    op.add_column("deliveries", sa.Column("last_attempt_at", MOMENT, nullable=True))
    op.add_column("deliveries", sa.Column("lease_id", sa.Uuid, nullable=True))
    # rows queued before this revision are due when they were queued
    op.execute("UPDATE deliveries SET next_attempt_at = queued_at")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("next_attempt_at", existing_type=MOMENT, nullable=False)
    waiting = sa.text("status IN ('QUEUED', 'SENDING')")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at", "id"],
        postgresql_where=waiting,
        sqlite_where=waiting,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_id")
        batch.drop_column("last_attempt_at")
        batch.drop_column("next_attempt_at")
