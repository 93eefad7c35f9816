"""acme-billing's own tables: who is signed in, and the supplier payouts it computes."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, Numeric, String, Table

metadata = MetaData()

sessions = Table(
    "acme_sessions",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),  # OPERATOR or SUPPLIER
    Column("supplier_id", String(128)),
)

payouts = Table(
    "acme_payouts",
    metadata,
    Column("payout_id", String(40), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("supplier_id", String(128), nullable=False),
    Column("supplier_name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("order_count", Integer, nullable=False),
    # acme keeps its dates as UTC without a zone (SQLite has none anyway)
    Column("period_start", DateTime(), nullable=False),
    Column("period_end", DateTime(), nullable=False),
    Column("computed_at", DateTime(), nullable=False),
    Column("settled_at", DateTime()),
    Column("failure_reason", String(500)),
)
