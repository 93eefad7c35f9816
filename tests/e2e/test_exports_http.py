"""The export routes through the HTTP app: the four trigger endpoints and their filters, the
history, and the download link's errors. Who may call them: tests/e2e/test_security_matrix.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from export_resend.domain.caller import Caller
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.records import (
    BalanceAccountType,
    FundingTransferFilters,
    FundingTransferStatus,
    TransactionEventFilters,
)
from tests.e2e.conftest import OLIVIA, OSCAR, OTTO, Api
from tests.e2e.test_resend_http import _problem
from tests.factories import NOW, export

ROUTES = {
    ExportType.TRANSACTION_EVENTS: "/v1/payments/transactions/export",
    ExportType.SUPPLIER_PAYOUTS: "/v1/payments/supplier-payouts/export",
    ExportType.FUNDING_TRANSFERS: "/v1/payments/funding-transfers/export",
    ExportType.MARKETPLACE_PAYOUTS: "/v1/payments/marketplace-payouts/export",
}


async def _post(api: Api, who: Caller, export_type: ExportType, body: Any = None) -> Any:
    if f"{who.user_id}@{who.tenant_id}" not in api.world.keys:
        await api.world.add_caller(who)
    return await api.client.post(ROUTES[export_type], headers=api.headers(who), json=body)


async def test_funding_transfer_filters_are_stored_as_given(api: Api) -> None:
    body = {
        "createdAtFrom": "2026-01-01T00:00:00+01:00",
        "createdAtTo": "2026-02-01T00:00:00Z",
        "statuses": ["COMPLETED", "FAILED", "COMPLETED"],
        "supplierIds": ["supplier-acme"],
        "amountMin": 10.5,
        "amountMax": "99.99",
        "sourceBalanceAccountType": "MARKETPLACE",
        "targetBalanceAccountType": "SUPPLIER",
    }
    response = await _post(api, OLIVIA, ExportType.FUNDING_TRANSFERS, body)
    assert response.status_code == 202, response.text
    assert response.json()["warnings"] == []
    [stored] = api.world.store.exports.values()
    assert stored.filters == FundingTransferFilters(
        created_at_from=datetime(2025, 12, 31, 23, tzinfo=UTC),
        created_at_to=datetime(2026, 2, 1, tzinfo=UTC),
        statuses=frozenset({FundingTransferStatus.COMPLETED, FundingTransferStatus.FAILED}),
        supplier_ids=frozenset({"supplier-acme"}),
        amount_min=Decimal("10.5"),
        amount_max=Decimal("99.99"),
        source_balance_account_type=BalanceAccountType.MARKETPLACE,
        target_balance_account_type=BalanceAccountType.SUPPLIER,
    )
    assert str(stored.filters.amount_min) == "10.5"
    assert str(stored.filters.amount_max) == "99.99"


@pytest.mark.parametrize(
    ("export_type", "body", "code", "field"),
    [
        (
            ExportType.TRANSACTION_EVENTS,
            {"statuses": ["PAID", "LOST"]},
            "F-E-008",
            "statuses[1]",
        ),
        (ExportType.FUNDING_TRANSFERS, {"statuses": ["SETTLED"]}, "F-E-008", "statuses[0]"),
        (
            ExportType.FUNDING_TRANSFERS,
            {"sourceBalanceAccountType": "BANK"},
            "F-E-008",
            "sourceBalanceAccountType",
        ),
        (
            ExportType.FUNDING_TRANSFERS,
            {"targetBalanceAccountType": "supplier"},
            "F-E-008",
            "targetBalanceAccountType",
        ),
        (ExportType.TRANSACTION_EVENTS, {"amountMin": "ten"}, "F-E-012", "amountMin"),
        (ExportType.TRANSACTION_EVENTS, {"amountMin": "NaN"}, "F-E-012", "amountMin"),
        (
            ExportType.TRANSACTION_EVENTS,
            {"amountMin": 10, "amountMax": 5},
            "F-E-012",
            "amountMax",
        ),
        (
            ExportType.TRANSACTION_EVENTS,
            {"updatedAtFrom": "2026-01-15T10:00:00"},
            "F-E-012",
            "updatedAtFrom",
        ),
        (
            ExportType.FUNDING_TRANSFERS,
            {"createdAtFrom": "2026-02-01T00:00:00Z", "createdAtTo": "2026-01-01T00:00:00Z"},
            "F-E-012",
            "createdAtTo",
        ),
        # a date is ISO 8601 text, as the document says (format: date-time), never a
        # number or a numeric string that pydantic would read as a Unix time
        (ExportType.TRANSACTION_EVENTS, {"updatedAtTo": 0}, "F-E-012", "updatedAtTo"),
        (ExportType.TRANSACTION_EVENTS, {"updatedAtFrom": 1.7e9}, "F-E-012", "updatedAtFrom"),
        (ExportType.FUNDING_TRANSFERS, {"createdAtTo": "1700000000"}, "F-E-012", "createdAtTo"),
        (ExportType.FUNDING_TRANSFERS, {"createdAtFrom": True}, "F-E-012", "createdAtFrom"),
        (
            ExportType.TRANSACTION_EVENTS,
            {"updatedAtFrom": "0001-01-01T00:00:00+01:00"},
            "F-E-012",
            "updatedAtFrom",
        ),
        (
            ExportType.FUNDING_TRANSFERS,
            {"createdAtTo": "9999-12-31T23:59:59-01:00"},
            "F-E-012",
            "createdAtTo",
        ),
        (ExportType.FUNDING_TRANSFERS, {"supplierIds": [""]}, "F-E-012", "supplierIds[0]"),
        (ExportType.FUNDING_TRANSFERS, {"supplierIds": ["a", "a\0b"]}, "F-E-012", "supplierIds[1]"),
        (ExportType.FUNDING_TRANSFERS, {"supplierIds": ["a\nb"]}, "F-E-012", "supplierIds[0]"),
        (ExportType.FUNDING_TRANSFERS, {"supplierIds": ["a\x85"]}, "F-E-012", "supplierIds[0]"),
        (ExportType.SUPPLIER_PAYOUTS, {"cc": ["not an address"]}, "F-E-012", "cc[0]"),
        (
            ExportType.MARKETPLACE_PAYOUTS,
            {"cc": [f"a{i}@x.io" for i in range(21)]},
            "F-E-010",
            "cc",
        ),
    ],
)
async def test_a_bad_filter_is_a_precise_400_and_nothing_is_queued(
    api: Api, export_type: ExportType, body: Any, code: str, field: str
) -> None:
    response = await _post(api, OLIVIA, export_type, body)
    problem = _problem(response, 400, "VALIDATION_FAILED")
    assert [(e["code"], e["field"]) for e in problem["errors"]] == [(code, field)]
    assert api.world.store.exports == {}
    assert api.world.store.jobs == {}


async def test_fields_a_type_does_not_take_are_ignored_with_a_warning(api: Api) -> None:
    response = await _post(api, OLIVIA, ExportType.MARKETPLACE_PAYOUTS, {"statuses": ["X"]})
    assert response.status_code == 202, response.text
    assert response.json()["warnings"] == [
        {
            "code": "FIELD_IGNORED",
            "field": "statuses",
            "message": "not a field of this request; ignored",
        }
    ]


async def test_a_request_with_no_body_exports_everything_with_no_copy(api: Api) -> None:
    response = await api.client.post(
        ROUTES[ExportType.TRANSACTION_EVENTS], headers=api.headers(OLIVIA)
    )
    assert response.status_code == 202, response.text
    [stored] = api.world.store.exports.values()
    assert (stored.cc, stored.filters) == ((), TransactionEventFilters())
    assert stored.status is ExportStatus.PENDING


def _page(body: dict[str, Any]) -> list[str]:
    return [item["exportId"] for item in body["items"]]


async def test_the_history_lists_the_caller_s_own_exports_newest_first_in_pages(
    api: Api,
) -> None:
    mine = [
        await api.world.add_export(export(OLIVIA, ready_at=NOW - timedelta(hours=h)))
        for h in range(5)
    ]
    await api.world.add_export(export(OSCAR))
    await api.world.add_export(export(OTTO))

    first = await api.client.get("/v1/exports?size=2", headers=api.headers(OLIVIA))
    second = await api.client.get("/v1/exports?size=2&page=1", headers=api.headers(OLIVIA))
    last = await api.client.get("/v1/exports?size=2&page=2", headers=api.headers(OLIVIA))

    assert first.status_code == 200
    assert first.json()["total"] == 5
    assert (first.json()["page"], first.json()["size"]) == (0, 2)
    pages = _page(first.json()) + _page(second.json()) + _page(last.json())
    assert pages == [str(e.id) for e in mine]
    assert first.json()["items"][0]["status"] == "READY"


async def test_the_history_filters_by_type_and_effective_status(api: Api) -> None:
    ready = await api.world.add_export(export(OLIVIA))
    old = await api.world.add_export(export(OLIVIA, ready_at=NOW - timedelta(days=8)))
    payouts = await api.world.add_export(export(OLIVIA, export_type=ExportType.SUPPLIER_PAYOUTS))

    expired = await api.client.get("/v1/exports?status=EXPIRED", headers=api.headers(OLIVIA))
    by_type = await api.client.get("/v1/exports?type=SUPPLIER_PAYOUTS", headers=api.headers(OLIVIA))
    both = await api.client.get(
        "/v1/exports?type=TRANSACTION_EVENTS&status=READY", headers=api.headers(OLIVIA)
    )

    assert _page(expired.json()) == [str(old.id)]
    assert expired.json()["items"][0]["status"] == "EXPIRED"
    assert _page(by_type.json()) == [str(payouts.id)]
    assert _page(both.json()) == [str(ready.id)]


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("size=101", "F-E-010", "size"),
        ("size=0", "F-E-012", "size"),
        ("page=-1", "F-E-012", "page"),
        ("page=first", "F-E-012", "page"),
        # pydantic alone would read these as numbers
        ("size=1_0", "F-E-012", "size"),
        ("size=%2B5", "F-E-012", "size"),
        ("size=%205%20", "F-E-012", "size"),
        ("page=1.0", "F-E-012", "page"),
        ("type=PAYOUTS", "F-E-008", "type"),
        ("status=DONE", "F-E-008", "status"),
    ],
)
async def test_a_bad_history_query_is_a_precise_400(
    api: Api, query: str, code: str, field: str
) -> None:
    response = await api.client.get(f"/v1/exports?{query}", headers=api.headers(OLIVIA))
    problem = _problem(response, 400, "VALIDATION_FAILED")
    assert [(e["code"], e["field"]) for e in problem["errors"]] == [(code, field)]


async def _ready_link(api: Api) -> tuple[str, str]:
    """A READY export generated for olivia, and the link of its first email."""
    response = await _post(api, OLIVIA, ExportType.SUPPLIER_PAYOUTS)
    export_id = response.json()["exportId"]
    await api.world.container.generator().idle()
    await api.world.container.dispatcher().idle()
    [email] = api.world.mailer.sent
    text = email.message.get_body(("plain",))
    assert text is not None
    link = next(w for w in text.get_content().split() if "/download?token=" in w)
    return export_id, link.removeprefix("http://127.0.0.1:8000")


async def test_a_download_needs_no_credentials_but_the_token(api: Api) -> None:
    export_id, link = await _ready_link(api)
    response = await api.client.get(link)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content.startswith(b"payoutId;supplierId;")
    assert response.headers["content-disposition"].endswith(f'_{export_id}.csv"')


async def test_a_bad_or_foreign_token_is_a_404(api: Api) -> None:
    export_id, link = await _ready_link(api)
    token = link.split("token=")[1]
    other = await api.world.add_export(export(OLIVIA))

    # a character well inside the signature: the last ones of base64 may carry padding bits
    middle = len(token) - 20
    forged = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    tampered = await api.client.get(f"/v1/exports/{export_id}/download?token={forged}")
    foreign = await api.client.get(f"/v1/exports/{other.id}/download?token={token}")
    missing = await api.client.get(f"/v1/exports/{export_id}/download")

    _problem(tampered, 404, "EXPORT_NOT_FOUND")
    _problem(foreign, 404, "EXPORT_NOT_FOUND")
    problem = _problem(missing, 400, "VALIDATION_FAILED")
    assert [(e["code"], e["field"]) for e in problem["errors"]] == [("F-E-001", "token")]


async def test_a_download_after_expiry_is_a_410_even_before_the_sweep(api: Api) -> None:
    _, link = await _ready_link(api)
    api.world.clock.advance(timedelta(days=7))
    _problem(await api.client.get(link), 410, "EXPORT_EXPIRED")
    assert await api.world.container.expire_exports()() == 1
    assert api.world.files.keys() == []
    _problem(await api.client.get(link), 410, "EXPORT_EXPIRED")


async def test_a_ready_export_whose_file_was_lost_is_a_404_not_a_500(api: Api) -> None:
    _, link = await _ready_link(api)
    [key] = api.world.files.keys()
    await api.world.files.delete(key)
    _problem(await api.client.get(link), 404, "EXPORT_NOT_FOUND")
