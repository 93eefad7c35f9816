"""Managed API keys (a public key id) and idempotency keys with their stored responses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("key_id", sa.String(32)))
        batch.create_unique_constraint("uq_api_keys_key_id", ["key_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("request", sa.String(512), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.Column("lease_id", sa.Uuid),
        sa.Column("locked_until", MOMENT),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_headers", sa.JSON().with_variant(JSONB(), "postgresql")),
        sa.Column("response_body", sa.LargeBinary),
        sa.PrimaryKeyConstraint("scope", "request", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expiry", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expiry", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("uq_api_keys_key_id", type_="unique")
        batch.drop_column("key_id")
