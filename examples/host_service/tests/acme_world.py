"""acme-billing as its tests see it: the app on a database of its own, a client through the
mount, and acme's data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import insert

from acme_billing.app import AcmeBilling
from acme_billing.data import metadata, payouts, sessions
from acme_billing.mailer import Spool

PUBLIC_URL = "https://billing.acme.example"


@dataclass
class Acme:
    """acme-billing built on ``directory``, and what a test looks at."""

    billing: AcmeBilling
    spool: Spool
    volume: Path

    @contextlib.asynccontextmanager
    async def client(self, *, run: bool = True) -> AsyncIterator[httpx.AsyncClient]:
        """A client on the app, its lifespan running as a server runs it (unless not
        ``run``: a host that forgot it)."""
        app = self.billing.app
        transport = httpx.ASGITransport(app=app)
        async with contextlib.AsyncExitStack() as stack:
            if run:
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)
            )

    async def create_tables(self) -> None:
        """acme's own tables, as its lifespan creates them."""
        async with self.billing.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def sign_in(
        self,
        token: str,
        user_id: str,
        *,
        role: str = "OPERATOR",
        supplier_id: str | None = None,
        tenant_id: str = "acme",
    ) -> dict[str, str]:
        """A session of acme's; the headers that carry it."""
        async with self.billing.engine.begin() as connection:
            await connection.execute(
                insert(sessions).values(
                    token=token,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    email=f"{user_id}@acme.example.com",
                    role=role,
                    supplier_id=supplier_id,
                )
            )
        return {"authorization": f"Bearer {token}"}

    async def add_payouts(self, *rows: dict[str, object]) -> None:
        async with self.billing.engine.begin() as connection:
            await connection.execute(insert(payouts), list(rows))


def payout(
    payout_id: str,
    supplier_id: str = "supplier-sam",
    *,
    tenant_id: str = "acme",
    computed_at: datetime = datetime(2026, 10, 8, 9, 15),  # naive UTC, as acme keeps it
) -> dict[str, object]:
    """One row of ``acme_payouts``."""
    return {
        "payout_id": payout_id,
        "tenant_id": tenant_id,
        "supplier_id": supplier_id,
        "supplier_name": f"{supplier_id} SAS",
        "status": "SETTLED",
        "amount": Decimal("1250.00"),
        "currency": "EUR",
        "order_count": 12,
        "period_start": datetime(2026, 10, 1),
        "period_end": datetime(2026, 10, 8),
        "computed_at": computed_at,
        "settled_at": datetime(2026, 10, 9, 15, 30),
        "failure_reason": None,
    }
