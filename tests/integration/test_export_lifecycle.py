"""The whole story of an export, through the HTTP app with its real generator, dispatcher and
expiry sweep, on SQLite and local files, with a real SMTP server on 127.0.0.1: request →
PENDING → READY → the email → the download → a resend → the same bytes → expiry."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from export_resend.adapters.demo import DemoRowSource
from export_resend.application.csv_writer import cells, header
from export_resend.container import Container
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.records import (
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    FundingTransferStatus,
)
from export_resend.main import create_app
from export_resend.settings import Settings
from export_resend.testing import ManualClock
from export_resend.testing.mailer_contract import Received
from tests.conftest import LINK_SECRET, issue_key
from tests.factories import NOW
from tests.smtp import SmtpServer

OLIVIA = Caller("olivia", "olivia@acme.example.com", "acme", ClientType.OPERATOR)
SAM = Caller("sam", "sam@acme.example.com", "acme", ClientType.SUPPLIER, "supplier-sam")
ROWS, SEED = 400, 7
_LINK = re.compile(r"http://127\.0\.0\.1:8000(/v1/exports/[0-9a-f-]+/download\?token=[^\s\"<]+)")


@dataclass
class Service:
    """The app on SQLite and local files with the SMTP mailer, and an HTTP client on it."""

    client: httpx.AsyncClient
    container: Container
    server: SmtpServer
    clock: ManualClock
    files: Path
    keys: dict[str, str]

    async def call(
        self, method: str, path: str, who: Caller = OLIVIA, body: Any = None
    ) -> httpx.Response:
        headers = {"dj-api-key": self.keys[who.user_id], "dj-client": who.client_type.value}
        return await self.client.request(method, path, headers=headers, json=body)

    async def until_ready(
        self, location: str, who: Caller = OLIVIA, within: float = 10.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            answer: dict[str, Any] = (await self.call("GET", location, who)).json()
            while answer["status"] == "PENDING":
                await asyncio.sleep(0.02)  # the generator runs in another task
                answer = (await self.call("GET", location, who)).json()
        return answer


@pytest.fixture
async def service(smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[Service]:
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
            "files_dir": tmp_path / "files",
            "link_secret": LINK_SECRET,
            "mailer": "smtp",
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_tls": "none",
            "smtp_timeout": 2,
            "delivery_lease": timedelta(seconds=5),
            "dispatch_poll_interval": 0.05,
            "demo_rows": ROWS,
            "demo_seed": SEED,
        }
    )
    container = Container(settings=settings)
    clock = ManualClock(NOW)
    container.clock.override(providers.Object(clock))
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        keys = {who.user_id: await issue_key(container.api_keys(), who) for who in (OLIVIA, SAM)}
        yield Service(client, container, smtp_server, clock, tmp_path / "files", keys)


def _link(received: Received) -> str:
    text = received.message.get_body(("plain",))
    assert text is not None
    found = _LINK.search(text.get_content())
    assert found is not None
    return found[1]


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), delimiter=";"))


async def _expected(scope: ExportScope, filters: FundingTransferFilters) -> list[list[str]]:
    source = DemoRowSource(rows=ROWS, seed=SEED)
    records = [r async for r in source.funding_transfers(scope, filters)]
    return [header(FundingTransfer), *(cells(r) for r in records)]


async def test_an_export_goes_from_request_to_email_to_download_to_resend_to_expiry(
    service: Service,
) -> None:
    body = {
        "cc": ["finance@acme.example.com", "OLIVIA@acme.example.com"],
        "statuses": ["COMPLETED", "FAILED"],
        "amountMin": "25.00",
    }
    response = await service.call("POST", "/v1/payments/funding-transfers/export", body=body)
    assert response.status_code == 202, response.text
    requested = response.json()
    assert requested["status"] == "PENDING"
    assert requested["exportType"] == "FUNDING_TRANSFERS"
    assert [w["field"] for w in requested["warnings"]] == ["cc[1]"]  # the caller's own address
    location = response.headers["Location"]
    assert location == f"/v1/exports/{requested['exportId']}"

    ready = await service.until_ready(location)
    assert ready["status"] == "READY"
    [first] = await service.server.wait_for_async(1)
    assert first.recipients == (OLIVIA.email, "finance@acme.example.com")
    assert first.message["To"] == OLIVIA.email
    assert first.message["Cc"] == "finance@acme.example.com"

    download = await service.client.get(_link(first))
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = download.headers["content-disposition"]
    assert disposition == (
        f'attachment; filename="funding-transfers_{NOW:%Y-%m-%d}_{requested["exportId"]}.csv"'
    )
    filters = FundingTransferFilters(
        statuses=frozenset({FundingTransferStatus.COMPLETED, FundingTransferStatus.FAILED}),
        amount_min=Decimal("25.00"),
    )
    expected = await _expected(ExportScope("acme"), filters)
    assert len(expected) > 1  # a header, and rows: the filters left some
    assert _rows(download.content) == expected
    assert ready["rowCount"] == len(expected) - 1
    assert ready["sizeBytes"] == len(download.content)

    service.clock.advance(timedelta(hours=1))
    resent = await service.call("POST", f"{location}/resend-email", body={"cc": []})
    assert resent.status_code == 200, resent.text
    [_, second] = await service.server.wait_for_async(2)
    assert second.recipients == (OLIVIA.email,)
    assert _link(second) != _link(first)
    again = await service.client.get(_link(second))
    assert again.status_code == 200
    assert again.content == download.content

    history = (await service.call("GET", f"{location}/emails")).json()["emails"]
    assert [e["kind"] for e in history] == ["INITIAL", "RESEND"]

    service.clock.advance(timedelta(days=7) - timedelta(hours=1))
    gone = await service.client.get(_link(second))
    assert gone.status_code == 410
    assert gone.json()["code"] == "EXPORT_EXPIRED"
    refused = await service.call("POST", f"{location}/resend-email")
    assert refused.status_code == 409
    assert refused.json()["exportStatus"] == "EXPIRED"

    assert await service.container.expire_exports()() == 1
    assert [p.name for p in service.files.iterdir() if p.suffix == ".csv"] == []
    assert (await service.call("GET", location)).json()["status"] == "EXPIRED"
    assert (await service.client.get(_link(first))).status_code == 410


async def test_a_supplier_export_holds_only_the_supplier_s_own_rows(service: Service) -> None:
    body = {"supplierIds": ["supplier-acme"]}  # ignored: a supplier sees its own data only
    response = await service.call("POST", "/v1/payments/funding-transfers/export", SAM, body)
    assert response.status_code == 202, response.text
    await service.until_ready(response.headers["Location"], who=SAM)
    [email] = await service.server.wait_for_async(1)
    assert email.recipients == (SAM.email,)
    rows = _rows((await service.client.get(_link(email))).content)
    assert rows == await _expected(ExportScope("acme", "supplier-sam"), FundingTransferFilters())
    supplier = rows[0].index("supplierId")
    assert len(rows) > 1
    assert {row[supplier] for row in rows[1:]} == {"supplier-sam"}
