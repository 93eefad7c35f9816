"""History filtered by status: an index led by the owner, then the status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_exports_history_status",
        "exports",
        ["tenant_id", "owner_id", "status", "requested_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_exports_history_status", table_name="exports")
