"""A host service embeds export-resend: the facade, mounted under a prefix of its own app."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from export_resend import Caller, ExportResend, Settings
from export_resend.adapters.memory import (
    InMemoryApiKeyStore,
    InMemoryFileStore,
    InMemoryMailer,
    InMemoryStore,
    InMemoryUnitOfWork,
)
from export_resend.application.errors import ServiceNotRunning, Unauthenticated, ValidationFailed
from export_resend.application.list_exports import ListExportsCommand
from export_resend.application.request_export import ExportCommand
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.domain.errors import ExportNotFound, ExportTypeNotServed
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.records import ExportScope, SupplierPayout, SupplierPayoutStatus
from export_resend.settings import UnsupportedSetting
from tests.conftest import LINK_SECRET, issue_key
from tests.factories import caller

PREFIX = "/exports-api"
OLIVIA = caller("olivia", "acme")


class PayoutsOnly:
    """A host's row source that serves supplier payouts only."""

    async def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]:
        for n in range(3):
            yield SupplierPayout(
                payout_id=f"po-{n}",
                supplier_id="sup-1",
                supplier_name="Supplier One",
                status=SupplierPayoutStatus.SETTLED,
                amount=Decimal("10.50"),
                currency="EUR",
                order_count=n,
                period_start=datetime(2026, 1, 1, tzinfo=UTC),
                period_end=datetime(2026, 1, 31, tzinfo=UTC),
                computed_at=datetime(2026, 2, 1, tzinfo=UTC),
                settled_at=None,
                failure_reason=None,
            )


def _settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "link_secret": LINK_SECRET,
        "public_base_url": f"http://host.example{PREFIX}",
        "dispatch_poll_interval": 0.05,
    }
    return Settings.model_validate(base | values)


class Host:
    """acme-billing: its own storage, mailer, files and data, export-resend mounted in it."""

    def __init__(self, *, run: bool = True, **settings: Any) -> None:
        self.store = InMemoryStore()
        self.mailer = InMemoryMailer()
        self.files = InMemoryFileStore()
        self.keys = InMemoryApiKeyStore()
        self.service = ExportResend(
            _settings(**settings),
            unit_of_work=lambda: InMemoryUnitOfWork(self.store),
            api_keys=self.keys,
            mailer=self.mailer,
            file_store=self.files,
            row_source=PayoutsOnly(),
        )

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            if run:
                async with self.service.running():
                    yield
            else:
                yield

        async def home(request: Request) -> PlainTextResponse:
            return PlainTextResponse("acme-billing")

        self.app = Starlette(
            routes=[Route("/", home), Mount(PREFIX, app=self.service.asgi)], lifespan=lifespan
        )

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.app)
        async with (
            self.app.router.lifespan_context(self.app),
            httpx.AsyncClient(transport=transport, base_url="http://host.example") as client,
        ):
            yield client


async def _headers(host: Host, who: Caller = OLIVIA) -> dict[str, str]:
    key = await issue_key(host.keys, who)
    return {"dj-api-key": key, "dj-client": who.client_type.value}


async def test_mounted_and_running_an_export_is_generated_mailed_downloaded_and_resent() -> None:
    host = Host()
    async with host.client() as client:
        headers = await _headers(host)
        asked = await client.post(
            f"{PREFIX}/v1/payments/supplier-payouts/export",
            headers=headers,
            json={"cc": ["finance@acme.example.com"]},
        )
        assert asked.status_code == 202, asked.text
        export_id = asked.json()["exportId"]
        assert asked.headers["location"] == f"{PREFIX}/v1/exports/{export_id}"

        await host.service.container.generator().idle()
        await host.service.container.dispatcher().idle()
        got = await client.get(asked.headers["location"], headers=headers)
        assert got.json()["status"] == ExportStatus.READY.value
        [first] = host.mailer.sent
        assert first.recipients == (OLIVIA.email, "finance@acme.example.com")
        link = next(
            word
            for word in first.message.get_body(("plain",)).get_content().split()  # type: ignore[union-attr]
            if word.startswith("http://host.example")
        )
        assert urlsplit(link).path == f"{PREFIX}/v1/exports/{export_id}/download"
        downloaded = await client.get(link)
        assert downloaded.status_code == 200
        assert downloaded.text.splitlines()[0].startswith("payoutId;")
        assert len(downloaded.text.splitlines()) == 4

        resent = await client.post(
            f"{PREFIX}/v1/exports/{export_id}/resend-email",
            headers=headers,
            json={"cc": ["ceo@acme.example.com"]},
        )
        assert resent.status_code == 200, resent.text
        await host.service.container.dispatcher().idle()
        second = host.mailer.sent[-1]
        assert second.message["Cc"] == "ceo@acme.example.com"
        assert second.recipients == (OLIVIA.email, "ceo@acme.example.com")


async def test_mounted_without_running_every_stored_route_is_a_503_and_nothing_is_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = Host(run=False)
    async with host.client() as client:
        headers = await _headers(host)
        with caplog.at_level(logging.ERROR, logger="export_resend"):
            for _ in range(2):
                asked = await client.post(
                    f"{PREFIX}/v1/payments/supplier-payouts/export", headers=headers
                )
                assert asked.status_code == 503
                assert asked.json()["code"] == "SERVICE_NOT_RUNNING"
                assert "running()" in asked.json()["detail"]
        assert [r for r in caplog.records if "not running" in r.getMessage()] != []
        assert len([r for r in caplog.records if "not running" in r.getMessage()]) == 1
        assert (await client.get(f"{PREFIX}/readyz")).json()["code"] == "SERVICE_NOT_RUNNING"
        assert (await client.get(f"{PREFIX}/livez")).status_code == 200
        assert host.store.exports == {}
        assert (await client.get("/")).text == "acme-billing"
    with pytest.raises(ServiceNotRunning):
        await host.service.get_export(OLIVIA, uuid4())


async def test_the_document_names_the_mount_and_only_the_types_the_source_serves() -> None:
    host = Host()
    async with host.client() as client:
        document = (await client.get(f"{PREFIX}/openapi.json")).json()
        assert document["servers"] == [{"url": PREFIX}]
        requests = [p for p in document["paths"] if p.startswith("/v1/payments/")]
        assert requests == ["/v1/payments/supplier-payouts/export"]
        headers = await _headers(host)
        other = await client.post(f"{PREFIX}/v1/payments/transactions/export", headers=headers)
        assert other.status_code == 404
        assert other.json()["code"] == "ROUTE_NOT_FOUND"
    assert host.service.export_types == {ExportType.SUPPLIER_PAYOUTS}


async def test_a_prefix_missing_from_the_public_url_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = Host(public_base_url="http://host.example")
    async with host.client() as client:
        headers = await _headers(host)
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                await client.get(f"{PREFIX}/v1/exports", headers=headers)
    warnings = [r for r in caplog.records if "EXPORT_RESEND_PUBLIC_BASE_URL" in r.getMessage()]
    assert len(warnings) == 1
    assert PREFIX in warnings[0].getMessage()


async def test_a_host_identifies_callers_itself_and_needs_no_key_store() -> None:
    store = InMemoryStore()

    async def identify(request: Request) -> Caller:
        user = request.headers.get("x-acme-user")
        if user != "olivia":
            raise Unauthenticated("no acme session")
        return OLIVIA

    service = ExportResend(
        _settings(),
        unit_of_work=lambda: InMemoryUnitOfWork(store),
        identify=identify,
        mailer=InMemoryMailer(),
        file_store=InMemoryFileStore(),
    )
    transport = httpx.ASGITransport(app=service.asgi)
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://x") as client,
    ):
        assert (await client.get("/v1/exports")).status_code == 401
        mine = await client.get("/v1/exports", headers={"x-acme-user": "olivia"})
        assert mine.status_code == 200
        assert mine.json()["total"] == 0
        asked = await client.post(
            "/v1/payments/transactions/export",
            headers={"x-acme-user": "olivia", "idempotency-key": "k1"},
        )
        again = await client.post(
            "/v1/payments/transactions/export",
            headers={"x-acme-user": "olivia", "idempotency-key": "k1"},
        )
        assert asked.status_code == again.status_code == 202
        assert again.headers["idempotent-replayed"] == "true"
        assert len(store.exports) == 1


def test_own_storage_without_a_database_needs_a_link_secret_and_an_identity() -> None:
    store = InMemoryStore()
    with pytest.raises(UnsupportedSetting, match="link_secret"):
        ExportResend(Settings(), unit_of_work=lambda: InMemoryUnitOfWork(store))
    with pytest.raises(UnsupportedSetting, match="api_keys="):
        ExportResend(_settings(), unit_of_work=lambda: InMemoryUnitOfWork(store))


def test_a_row_source_with_no_export_type_is_refused() -> None:
    with pytest.raises(UnsupportedSetting, match="no method for any export type"):
        ExportResend(_settings(database_url="memory://"), row_source=object())  # type: ignore[arg-type]


async def test_the_use_cases_are_attributes_of_the_service() -> None:
    host = Host()
    async with host.service.running() as service:
        command = ResendExportEmailCommand(export_id=uuid4(), cc=("a@example.com",))
        with pytest.raises(ExportNotFound):
            await service.resend_export_email(OLIVIA, command)
        page = await service.list_exports(OLIVIA, ListExportsCommand())
        assert page.total == 0
        with pytest.raises(ExportTypeNotServed):
            await service.request_export(OLIVIA, ExportType.TRANSACTION_EVENTS, ExportCommand())
        assert host.store.exports == {}


def test_a_host_makes_a_caller_from_its_own_identity_with_the_apis_validation() -> None:
    made = ExportResend.caller(tenant_id="acme", user_id="olivia", email="olivia@acme.example.com")
    assert made == OLIVIA
    with pytest.raises(ValidationFailed) as refused:
        ExportResend.caller(tenant_id="acme", user_id="olivia", email="Olivia <o@acme.example>")
    assert [e.field for e in refused.value.errors] == ["email"]
