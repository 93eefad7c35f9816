"""acme's supplier payouts, the one export type it serves, from its own table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acme_billing.data import payouts
from export_resend.domain.ports import SupplierPayoutRows
from export_resend.domain.records import ExportScope, SupplierPayout, SupplierPayoutStatus


def _utc(value: datetime) -> datetime:
    # acme's columns hold UTC without a zone: give it the zone (astimezone would read local time)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AcmePayouts(SupplierPayoutRows):
    """Supplier payouts from ``acme_payouts``: a tenant's, or one supplier's, by payout id."""

    def __init__(self, engine: AsyncEngine, *, batch: int = 1000) -> None:
        self._engine = engine
        self._batch = batch

    async def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        query = select(payouts).where(payouts.c.tenant_id == scope.tenant_id)
        if scope.supplier_id is not None:
            query = query.where(payouts.c.supplier_id == scope.supplier_id)
        query = query.order_by(payouts.c.payout_id).execution_options(yield_per=self._batch)
        async with self._engine.connect() as connection:
            async for row in await connection.stream(query):
                yield SupplierPayout(
                    payout_id=row.payout_id,
                    supplier_id=row.supplier_id,
                    supplier_name=row.supplier_name,
                    status=SupplierPayoutStatus(row.status),
                    amount=row.amount,
                    currency=row.currency,
                    order_count=row.order_count,
                    period_start=_utc(row.period_start),
                    period_end=_utc(row.period_end),
                    computed_at=_utc(row.computed_at),
                    settled_at=None if row.settled_at is None else _utc(row.settled_at),
                    failure_reason=row.failure_reason,
                )
