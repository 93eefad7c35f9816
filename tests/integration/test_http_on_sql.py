"""Requests through the HTTP app onto the SQL databases: what the API accepts, each database
can store; what one of them could not (PostgreSQL holds no NUL in text or JSONB) is a 400
for every database, never a 500. The fuzzers run on the in-memory adapters, which hold
anything, so this is said here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest

from export_resend.application.create_api_key import CreateApiKeyCommand
from export_resend.container import Container
from export_resend.domain.caller import ClientType
from export_resend.main import create_app
from export_resend.settings import MailerKind, Settings
from tests.conftest import LINK_SECRET, close_storage, open_storage
from tests.e2e import asgi

FUNDING_TRANSFERS = "/v1/payments/funding-transfers/export"


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Container, list[tuple[bytes, bytes]]]]:
    """A container on a migrated database, and the headers of an operator's key on it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    container = Container(
        settings=Settings.model_validate(
            {"database_url": url, "mailer": MailerKind.MEMORY, "link_secret": LINK_SECRET}
        )
    )
    await open_storage(container)
    try:
        issued = await container.create_api_key()(
            CreateApiKeyCommand(
                tenant_id=f"t-{uuid4().hex[:12]}",  # the PostgreSQL database is the run's
                user_id="olivia",
                email="olivia@acme.example.com",
                client_type=ClientType.OPERATOR,
            )
        )
        yield (
            container,
            [
                (b"dj-api-key", issued.key.text.encode()),
                (b"dj-client", b"OPERATOR"),
                (b"content-type", b"application/json"),
            ],
        )
    finally:
        await close_storage(container)


@pytest.mark.parametrize(
    "body",
    [rb'{"supplierIds": ["a\u0000b"]}', rb'{"supplierIds": ["ok", "\u0000"]}'],
    ids=["nul-inside", "nul-alone"],
)
async def test_a_nul_in_a_stored_filter_is_a_400_on_every_database(
    served: tuple[Container, list[tuple[bytes, bytes]]], body: bytes
) -> None:
    container, headers = served
    response = await asgi.call(
        create_app(container=container), "POST", FUNDING_TRANSFERS, headers=headers, chunks=[body]
    )
    assert (response.status, response.json()["code"]) == (400, "VALIDATION_FAILED"), response.body
    assert response.json()["errors"][0]["code"] == "F-E-012"


async def test_printable_supplier_ids_of_any_script_are_stored_and_read_back(
    served: tuple[Container, list[tuple[bytes, bytes]]],
) -> None:
    container, headers = served
    app = create_app(container=container)
    ids = ["supplier acme", "fournisseur-é", "供应商-1", "emoji-\U0001f600", "x" * 128]
    body = ('{"supplierIds": ["' + '", "'.join(ids) + '"]}').encode()
    response = await asgi.call(app, "POST", FUNDING_TRANSFERS, headers=headers, chunks=[body])
    assert response.status == 202, response.body
    read = await asgi.call(app, "GET", response.header("location") or "", headers=headers)
    assert read.status == 200, read.body
