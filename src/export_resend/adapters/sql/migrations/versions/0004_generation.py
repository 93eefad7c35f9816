"""Export generation: what an export was asked to hold, and the queue of exports to generate.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("exports", sa.Column("filters", sa.JSON().with_variant(JSONB(), "postgresql")))
    op.add_column("exports", sa.Column("supplier_scope", sa.String(128)))
    op.create_table(
        "generation_jobs",
        sa.Column("export_id", sa.Uuid, nullable=False),
        sa.Column("queued_at", MOMENT, nullable=False),
        sa.Column("next_attempt_at", MOMENT, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_id", sa.Uuid),
        sa.ForeignKeyConstraint(
            ["export_id"], ["exports.id"], name="fk_generation_jobs_export_id_exports"
        ),
        sa.PrimaryKeyConstraint("export_id", name="pk_generation_jobs"),
    )
    op.create_index("ix_generation_jobs_due", "generation_jobs", ["next_attempt_at", "export_id"])
    # Exports left PENDING before this revision have no filters or supplier scope on record
    # (a supplier's would be generated tenant-wide), and may be in a host's own hands: they
    # are not generated here, but ended with a reason the owner can read.
    op.execute(
        "UPDATE exports SET status = 'FAILED', version = version + 1, failure_reason ="
        " 'requested before this version generated exports; please request it again'"
        " WHERE status = 'PENDING'"
    )


def downgrade() -> None:
    op.drop_index("ix_generation_jobs_due", table_name="generation_jobs")
    op.drop_table("generation_jobs")
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("supplier_scope")
        batch.drop_column("filters")
