"""Hypothesis strategies for the domain: addresses, CC lists, callers, moments and exports."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.records import (
    BalanceAccountType,
    ExportFilters,
    FundingTransferFilters,
    FundingTransferStatus,
    TransactionEventFilters,
    TransactionEventStatus,
)

_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
_ATOM = st.text(_LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_+-", min_size=1, max_size=8)
_LOCAL = st.lists(_ATOM, min_size=1, max_size=3).map(".".join)
_LABEL = st.text(_LOWER, min_size=1, max_size=8)
_TLD = st.sampled_from(["com", "org", "net", "io", "fr", "example"])

TENANTS = ("acme", "globex", "initech")
USERS = ("ada", "bob", "cleo", "dev")


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """A valid bare address, ASCII, with a lower-case domain (its normal form)."""
    labels = draw(st.lists(_LABEL, min_size=1, max_size=2))
    return f"{draw(_LOCAL)}@{'.'.join([*labels, draw(_TLD)])}"


def case_variants(address: str) -> st.SearchStrategy[str]:
    """The same address with its letters in any case."""
    return st.integers(0, 2 ** len(address) - 1).map(
        lambda upper: "".join(c.upper() if upper >> i & 1 else c for i, c in enumerate(address))
    )


def cc_lists(
    max_size: int = 20, pool: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[list[str]]:
    """CC lists drawn from a small pool, so that duplicates (in any case) are common."""
    base = st.lists(addresses() if pool is None else pool, min_size=1, max_size=6, unique=True)
    return base.flatmap(
        lambda choices: st.lists(st.sampled_from(choices).flatmap(case_variants), max_size=max_size)
    )


@st.composite
def callers(draw: st.DrawFn, tenant_id: str | None = None) -> Caller:
    """A connected user of one of a few tenants; its email is a function of its id."""
    user = draw(st.sampled_from(USERS))
    tenant = tenant_id or draw(st.sampled_from(TENANTS))
    client = draw(st.sampled_from(ClientType))
    supplier = f"supplier-{user}" if client is ClientType.SUPPLIER else None
    return Caller(user, f"{user}@{tenant}.example.com", tenant, client, supplier)


_MOMENTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
# Any text a database stores: encodable in UTF-8 (no lone surrogate), and no NUL, which
# PostgreSQL refuses.
_REASONS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)
_TTLS = st.timedeltas(timedelta(minutes=1), timedelta(days=30))


def moments() -> st.SearchStrategy[datetime]:
    """A timezone-aware UTC moment between 2024 and 2030, to the microsecond."""
    return _MOMENTS


def download_periods() -> st.SearchStrategy[timedelta]:
    """How long a READY export stays downloadable: one minute to thirty days."""
    return _TTLS


def failure_reasons() -> st.SearchStrategy[str]:
    """Why generation failed: any non-empty text a database can store (no NUL)."""
    return _REASONS


_AMOUNTS = st.decimals(
    min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False
)
_SECONDS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


def _ordered(ends: tuple[Any, Any]) -> tuple[Any, Any]:
    low, high = ends
    return (high, low) if low is not None and high is not None and low > high else ends


def _bounds(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    """An inclusive range, either end open (``None``), never upside down."""
    return st.tuples(st.none() | values, st.none() | values).map(_ordered)


@st.composite
def transaction_event_filters(draw: st.DrawFn) -> TransactionEventFilters:
    """Any coherent filters of a transaction events export."""
    low, high = draw(_bounds(_AMOUNTS))
    start, end = draw(_bounds(_SECONDS))
    return TransactionEventFilters(
        statuses=draw(st.frozensets(st.sampled_from(TransactionEventStatus))),
        amount_min=low,
        amount_max=high,
        updated_at_from=start,
        updated_at_to=end,
    )


@st.composite
def funding_transfer_filters(draw: st.DrawFn) -> FundingTransferFilters:
    """Any coherent filters of a funding transfers export."""
    low, high = draw(_bounds(_AMOUNTS))
    start, end = draw(_bounds(_SECONDS))
    accounts = st.none() | st.sampled_from(BalanceAccountType)
    return FundingTransferFilters(
        created_at_from=start,
        created_at_to=end,
        statuses=draw(st.frozensets(st.sampled_from(FundingTransferStatus))),
        supplier_ids=draw(st.frozensets(st.sampled_from([f"supplier-{u}" for u in USERS]))),
        amount_min=low,
        amount_max=high,
        source_balance_account_type=draw(accounts),
        target_balance_account_type=draw(accounts),
    )


def filters_for(export_type: ExportType) -> st.SearchStrategy[ExportFilters | None]:
    """No filters, or any coherent filters that ``export_type`` takes."""
    if export_type is ExportType.TRANSACTION_EVENTS:
        return st.none() | transaction_event_filters()
    if export_type is ExportType.FUNDING_TRANSFERS:
        return st.none() | funding_transfer_filters()
    return st.none()


@st.composite
def export_files(draw: st.DrawFn) -> ExportFile:
    """A stored CSV: a storage key, a size, a row count and a SHA-256 hex digest."""
    return ExportFile(
        f"exports/{draw(st.uuids())}.csv",
        draw(st.integers(0, 10**10)),
        draw(st.integers(0, 10_000_000)),
        draw(st.binary(min_size=32, max_size=32)).hex(),
    )


@st.composite
def exports(
    draw: st.DrawFn,
    owner: Caller | None = None,
    status: ExportStatus | None = None,
    *,
    cc: st.SearchStrategy[list[str]] | None = None,
    requested_at: st.SearchStrategy[datetime] | None = None,
) -> Export:
    """An export in any status, owned by ``owner`` or by a drawn caller, with consistent data.

    ``cc`` replaces the strategy of the original CC list (by default up to five distinct
    ``addresses()``), ``requested_at`` that of the request time (by default ``moments()``).
    """
    who = owner or draw(callers())
    status = status or draw(st.sampled_from(ExportStatus))
    requested = draw(_MOMENTS if requested_at is None else requested_at)
    if cc is None:
        cc = st.lists(addresses(), max_size=5, unique_by=str.casefold)
    cc_list = draw(cc)
    export_type = draw(st.sampled_from(ExportType))
    pending = Export(
        id=UUID(int=draw(st.integers(0, 2**128 - 1)), version=4),
        tenant_id=who.tenant_id,
        type=export_type,
        filters=draw(filters_for(export_type)),
        supplier_scope=who.supplier_id,
        owner_id=who.user_id,
        owner_email=who.email,
        status=ExportStatus.PENDING,
        requested_at=requested,
        cc=tuple(cc_list),
    )
    if status is ExportStatus.PENDING:
        return pending
    if status is ExportStatus.FAILED:
        return pending.mark_failed(draw(_REASONS))
    rows = draw(st.integers(0, 10_000_000))
    file = ExportFile(
        f"exports/{pending.id}.csv",
        draw(st.integers(0, 10**10)),
        rows,
        hashlib.sha256(pending.id.bytes).hexdigest(),
    )
    ttl = draw(_TTLS)
    ready_at = requested + timedelta(minutes=1)
    ready = pending.mark_ready(file, ready_at, ttl)
    return ready.expire(ready_at + ttl) if status is ExportStatus.EXPIRED else ready
