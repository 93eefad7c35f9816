"""Tenants, users, API keys, exports and deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("client_type", sa.String(16), nullable=False),
        sa.Column("supplier_id", sa.String(128)),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_users_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_users"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("revoked_at", MOMENT),
        sa.Column("last_used_at", MOMENT),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name="fk_api_keys_tenant_id_user_id_users",
        ),
        sa.PrimaryKeyConstraint("key_sha256", name="pk_api_keys"),
    )
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("owner_email", sa.String(320), nullable=False),
        sa.Column("cc", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", MOMENT, nullable=False),
        sa.Column("ready_at", MOMENT),
        sa.Column("expires_at", MOMENT),
        sa.Column("storage_key", sa.String(512)),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("row_count", sa.BigInteger()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("failure_reason", sa.Text()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exports"),
    )
    op.create_index(
        "ix_exports_history", "exports", ["tenant_id", "owner_id", "requested_at", "id"]
    )
    op.create_index("ix_exports_expiry", "exports", ["status", "expires_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("cc", JSON, nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queued_at", MOMENT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", MOMENT),
        sa.Column("last_error", sa.Text()),
        sa.Column("results", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"], ["exports.id"], name="fk_deliveries_export_id_exports"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("message_id", name="uq_deliveries_message_id"),
    )
    op.create_index("ix_deliveries_export", "deliveries", ["export_id", "queued_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_export", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_exports_expiry", table_name="exports")
    op.drop_index("ix_exports_history", table_name="exports")
    op.drop_table("exports")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("tenants")
