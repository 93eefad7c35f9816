"""acme-billing end to end, through export-resend mounted under /exports-api."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import httpx
import pytest

from acme_billing.app import PREFIX
from acme_billing.mailer import SpooledEmail
from acme_world import PUBLIC_URL, Acme, payout


async def _until_ready(client: httpx.AsyncClient, location: str, headers: dict[str, str]) -> None:
    async with asyncio.timeout(10):
        while (await client.get(location, headers=headers)).json()["status"] != "READY":
            await asyncio.sleep(0.02)


async def _emails(acme: Acme, count: int) -> list[SpooledEmail]:
    async with asyncio.timeout(10):
        while len(spooled := await acme.spool.received()) < count:
            await asyncio.sleep(0.02)
    return list(spooled)


def _link(email: SpooledEmail) -> str:
    body = email.message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    [link] = [word for word in text.split() if word.startswith(PUBLIC_URL)]
    return link


async def test_a_payouts_export_is_generated_mailed_downloaded_and_resent_with_a_new_cc(
    acme: Acme,
) -> None:
    async with acme.client() as client:
        olivia = await acme.sign_in("tok-olivia", "olivia")
        await acme.add_payouts(payout("spo_1"), payout("spo_2", "supplier-bolt"))

        asked = await client.post(
            f"{PREFIX}/v1/payments/supplier-payouts/export",
            headers=olivia,
            json={"cc": ["finance@acme.example.com"]},
        )
        assert asked.status_code == 202, asked.text
        export_id = asked.json()["exportId"]
        location = asked.headers["location"]
        assert location == f"{PREFIX}/v1/exports/{export_id}"
        await _until_ready(client, location, olivia)

        [first] = await _emails(acme, 1)
        assert first.recipients == ("olivia@acme.example.com", "finance@acme.example.com")
        assert first.message["Cc"] == "finance@acme.example.com"
        link = _link(first)
        assert urlsplit(link).path == f"{PREFIX}/v1/exports/{export_id}/download"
        downloaded = await client.get(link)  # no session: the link's token is the credential
        assert downloaded.status_code == 200
        rows = downloaded.text.splitlines()
        assert rows[0].startswith("payoutId;supplierId;supplierName;status;")
        assert [row.split(";")[0] for row in rows[1:]] == ["spo_1", "spo_2"]
        assert rows[1].split(";")[9] == "2026-10-08T09:15:00Z"  # acme's naive UTC, as UTC

        resent = await client.post(
            f"{PREFIX}/v1/exports/{export_id}/resend-email",
            headers=olivia,
            json={"cc": ["ceo@acme.example.com"]},
        )
        assert resent.status_code == 200, resent.text
        assert resent.json()["recipients"]["cc"] == ["ceo@acme.example.com"]
        second = (await _emails(acme, 2))[1]
        assert second.recipients == ("olivia@acme.example.com", "ceo@acme.example.com")
        assert second.message["Cc"] == "ceo@acme.example.com"
        assert (await client.get(_link(second))).content == downloaded.content


async def test_a_supplier_exports_only_its_own_payouts(acme: Acme) -> None:
    async with acme.client() as client:
        sam = await acme.sign_in("tok-sam", "sam", role="SUPPLIER", supplier_id="supplier-sam")
        await acme.add_payouts(payout("spo_1"), payout("spo_2", "supplier-bolt"))
        asked = await client.post(f"{PREFIX}/v1/payments/supplier-payouts/export", headers=sam)
        assert asked.status_code == 403  # supplier payouts are for operators
        assert asked.json()["code"] == "EXPORT_TYPE_NOT_ALLOWED"


async def test_only_supplier_payouts_are_served_and_documented_under_the_prefix(
    acme: Acme,
) -> None:
    async with acme.client() as client:
        olivia = await acme.sign_in("tok-olivia", "olivia")
        other = await client.post(f"{PREFIX}/v1/payments/transactions/export", headers=olivia)
        assert other.status_code == 404
        document = (await client.get(f"{PREFIX}/openapi.json")).json()
        assert document["servers"] == [{"url": PREFIX}]
        requests = [path for path in document["paths"] if path.startswith("/v1/payments/")]
        assert requests == ["/v1/payments/supplier-payouts/export"]
        assert (await client.get("/")).text == "acme-billing"


async def test_without_a_session_the_mount_answers_401(acme: Acme) -> None:
    async with acme.client() as client:
        anonymous = await client.get(f"{PREFIX}/v1/exports")
        assert anonymous.status_code == 401
        ended = await client.get(f"{PREFIX}/v1/exports", headers={"authorization": "Bearer x"})
        assert ended.status_code == 401


async def test_mounted_without_its_lifespan_a_request_is_a_503_and_nothing_is_accepted(
    acme: Acme, caplog: pytest.LogCaptureFixture
) -> None:
    await acme.create_tables()  # acme's own, migrated; only the lifespan was forgotten
    olivia = await acme.sign_in("tok-olivia", "olivia")
    with caplog.at_level(logging.ERROR, logger="export_resend"):
        async with acme.client(run=False) as client:
            asked = await client.post(
                f"{PREFIX}/v1/payments/supplier-payouts/export", headers=olivia
            )
            assert asked.status_code == 503
            assert asked.json()["code"] == "SERVICE_NOT_RUNNING"
            assert "running()" in asked.json()["detail"]
            assert (await client.get(f"{PREFIX}/readyz")).status_code == 503
    assert any("not running" in record.getMessage() for record in caplog.records)
    assert await acme.spool.received() == []
    assert not acme.volume.exists()
