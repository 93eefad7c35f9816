"""The whole path over a real SMTP server on 127.0.0.1: HTTP resend → outbox row in SQLite →
dispatcher → SmtpMailer → aiosmtpd. Outages, drops and refusals, with real time and short
retry settings."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from export_resend.adapters.clock import SystemClock
from export_resend.container import Container
from export_resend.domain.api_keys import ApiKey
from export_resend.domain.delivery import Delivery, DeliveryStatus, RecipientOutcome
from export_resend.domain.export import Export
from export_resend.main import create_app
from export_resend.settings import Settings
from tests.conftest import LINK_SECRET, issue_key
from tests.factories import caller, export
from tests.smtp import SmtpServer

OLIVIA = caller("olivia", "acme")
API_KEY = ApiKey.generate().text


@dataclass
class Service:
    """The app on SQLite with the SMTP mailer, an HTTP client on it, and one READY export."""

    client: httpx.AsyncClient
    container: Container
    server: SmtpServer
    export: Export

    async def resend(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/exports/{self.export.id}/resend-email",
            headers={"dj-api-key": API_KEY, "dj-client": "OPERATOR"},
            json=body or {},
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def delivery(self, delivery_id: str) -> Delivery:
        async with self.container.unit_of_work() as uow:
            found: Delivery | None = await uow.deliveries.get(UUID(delivery_id))
        assert found is not None
        return found

    async def until(
        self, delivery_id: str, done: Callable[[Delivery], bool], within: float = 10.0
    ) -> Delivery:
        """Poll the stored row until ``done`` holds (the dispatcher runs meanwhile)."""
        async with asyncio.timeout(within):
            found: Delivery = await self.delivery(delivery_id)
            while not done(found):
                await asyncio.sleep(0.02)  # the row is written by another task's transaction
                found = await self.delivery(delivery_id)
        return found


@pytest.fixture
async def service(smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[Service]:
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
            "link_secret": LINK_SECRET,
            "mailer": "smtp",
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_tls": "none",
            "smtp_timeout": 2,
            "delivery_lease": timedelta(seconds=5),
            "delivery_retry_first": timedelta(milliseconds=50),
            "delivery_retry_max": timedelta(milliseconds=400),
            "dispatch_poll_interval": 0.05,
        }
    )
    container = Container(settings=settings)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        now = SystemClock().now()
        ready = export(OLIVIA, cc=("finance@acme.example.com",), ready_at=now)
        async with container.unit_of_work() as uow:
            await uow.exports.add(ready)
            await uow.commit()
        await issue_key(container.api_keys(), OLIVIA, API_KEY)
        yield Service(client, container, smtp_server, ready)


def _sent(delivery: Delivery) -> bool:
    return delivery.status is DeliveryStatus.SENT


async def _quiet(wait: Awaitable[object], server: SmtpServer, count: int) -> None:
    """After ``wait``, give stray duplicates a moment to show, then check none came."""
    await wait
    await asyncio.sleep(0.3)
    assert len(server.received) == count, server.message_ids()


async def test_a_resend_arrives_once_to_exactly_the_recipients_of_the_response(
    service: Service,
) -> None:
    answer = await service.resend({"cc": ["a@x.io", "b@x.io"]})
    [received] = await service.server.wait_for_async(1)
    stored = await service.until(answer["delivery"]["id"], _sent)
    await _quiet(asyncio.sleep(0), service.server, 1)

    recipients = answer["recipients"]
    assert received.recipients == (recipients["to"], *recipients["cc"])
    assert received.sender == "exports@localhost.localdomain"
    message = received.message
    assert message["To"] == recipients["to"] == OLIVIA.email
    assert message["Cc"] == "a@x.io, b@x.io"
    assert message["Message-ID"] == stored.message_id
    assert "Bcc" not in message
    assert not re.search(rb"(^|\r\n)Bcc:", service.server.data[0], re.IGNORECASE)
    text = message.get_body(("plain",))
    assert text is not None
    link = re.search(
        r"http://127\.0\.0\.1:8000/v1/exports/([0-9a-f-]+)/download\?token=\S+",
        text.get_content(),
    )
    assert link is not None
    assert link[1] == str(service.export.id)
    assert [r.outcome for r in stored.results] == [RecipientOutcome.ACCEPTED] * 3


async def test_a_relay_that_is_down_is_retried_with_growing_waits_until_it_is_back(
    service: Service,
) -> None:
    before = await service.resend()
    await service.server.wait_for_async(1)
    await service.until(before["delivery"]["id"], _sent)
    service.server.stop()

    answer = await service.resend()
    delivery_id = answer["delivery"]["id"]
    assert answer["delivery"]["status"] == "QUEUED"
    early = await service.until(delivery_id, lambda d: d.attempts >= 1)
    late = await service.until(delivery_id, lambda d: d.attempts >= early.attempts + 2)
    assert early.status is late.status is DeliveryStatus.QUEUED
    assert late.last_error is not None
    assert early.next_attempt_at < late.next_attempt_at
    # each wait is in the upper half of 50 ms doubled per attempt: it grows
    assert early.last_attempt_at is not None
    assert late.last_attempt_at is not None
    assert (
        early.next_attempt_at - early.last_attempt_at < late.next_attempt_at - late.last_attempt_at
    )

    service.server.start()
    stored = await service.until(delivery_id, _sent)
    await _quiet(service.server.wait_for_async(2), service.server, 2)
    assert service.server.message_ids() == [
        (await service.delivery(before["delivery"]["id"])).message_id,
        stored.message_id,
    ]
    assert stored.attempts >= 4


async def test_a_connection_dropped_after_data_is_retried_with_the_same_message_id(
    service: Service,
) -> None:
    service.server.drop_after_data = 1
    answer = await service.resend()
    stored = await service.until(answer["delivery"]["id"], _sent)
    await _quiet(service.server.wait_for_async(2), service.server, 2)
    assert service.server.message_ids() == [stored.message_id] * 2
    assert stored.attempts == 2


async def test_a_550_is_kept_and_never_retried_while_a_450_is_retried_alone(
    service: Service,
) -> None:
    service.server.refuse.update(
        {"gone@x.io": (550, "5.1.1 no such user"), "busy@x.io": (450, "4.2.1 try later")}
    )
    answer = await service.resend({"cc": ["gone@x.io", "busy@x.io", "fine@x.io"]})
    delivery_id = answer["delivery"]["id"]
    [first] = await service.server.wait_for_async(1)
    waiting = await service.until(
        delivery_id, lambda d: d.attempts >= 1 and d.status is DeliveryStatus.QUEUED
    )
    assert first.recipients == (OLIVIA.email, "fine@x.io")
    assert waiting.status is DeliveryStatus.QUEUED
    assert waiting.pending_recipients() == ("busy@x.io",)

    del service.server.refuse["busy@x.io"]
    stored = await service.until(delivery_id, _sent)
    await _quiet(service.server.wait_for_async(2), service.server, 2)
    second = service.server.received[1]
    assert second.recipients == ("busy@x.io",)
    assert second.message["Message-ID"] == first.message["Message-ID"] == stored.message_id
    outcomes = {r.address: (r.outcome, r.code) for r in stored.results}
    assert outcomes == {
        OLIVIA.email: (RecipientOutcome.ACCEPTED, 250),
        "gone@x.io": (RecipientOutcome.REFUSED_PERMANENTLY, 550),
        "busy@x.io": (RecipientOutcome.ACCEPTED, 250),
        "fine@x.io": (RecipientOutcome.ACCEPTED, 250),
    }
