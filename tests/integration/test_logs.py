"""Real traffic through ``serve``'s uvicorn set-up, with the JSON logs configured as ``serve``
does but without the last-resort redaction: every line is JSON, none carries an address, a
download token or an API key, and every line logged while a request is handled carries its
request id.

The traffic: the service starting (migrations), a bad key, an export request with a CC and
its generation, the initial email, a resend with new CCs that the relay refuses (with texts
that quote the addresses), a resend while the relay refuses the sender, the download with
its token, a download with a forged token, and the service stopping; and a resend whose
write the database refuses, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from export_resend.adapters.demo import DemoData, demo_api_key
from export_resend.cli import server_config
from export_resend.container import Container
from export_resend.main import create_app
from export_resend.settings import Settings
from tests.conftest import LINK_SECRET
from tests.logs import Logs, captured_logs
from tests.smtp import SmtpServer

_LINK = re.compile(r"(/v1/exports/[0-9a-f-]+/download)\?token=([^\s\"<]+)")
MAIL_FROM = "exports-robot@pay.example.com"
ACCESS = "export_resend.adapters.http.access"


@dataclass
class Running:
    client: httpx.AsyncClient
    container: Container
    demo: DemoData
    logs: Logs
    relay: SmtpServer


@pytest.fixture
async def running(
    smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    # the stand-in relay and the test's HTTP client run in this process, and log what they
    # send and receive (addresses, the link's token): theirs are not the service's logs,
    # and in real life they run elsewhere
    for outsider in ("mail.log", "httpx"):
        monkeypatch.setattr(logging.getLogger(outsider), "disabled", True)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
            "files_dir": tmp_path / "files",
            "link_secret": LINK_SECRET,
            "public_base_url": f"http://127.0.0.1:{port}",
            "mailer": "smtp",
            "mail_from": MAIL_FROM,
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_tls": "none",
            "smtp_timeout": 2,
            "delivery_lease": timedelta(seconds=5),
            "dispatch_poll_interval": 0.05,
            "demo_rows": 30,
        }
    )
    with captured_logs(redact=False) as logs:
        container = Container(settings=settings)
        server = uvicorn.Server(server_config(create_app(container=container), settings, "", 0))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            async with asyncio.timeout(10):
                while not server.started:  # noqa: ASYNC110 - uvicorn has a flag, no event
                    await asyncio.sleep(0.01)
            demo = await container.seed_demo()()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                yield Running(client, container, demo, logs, smtp_server)
        finally:
            server.should_exit = True
            await serving
            listener.close()


def _key(running: Running, name: str) -> dict[str, str]:
    user = running.demo.user(name)
    return {"dj-api-key": user.api_key, "dj-client": user.caller.client_type.value}


async def _settled(running: Running) -> None:
    await running.container.generator().idle()
    await running.container.dispatcher().idle()


async def test_real_traffic_logs_json_lines_without_addresses_tokens_or_keys(
    running: Running,
) -> None:
    client, relay = running.client, running.relay
    secrets: set[str] = {MAIL_FROM}
    secrets |= {u.caller.email for u in running.demo.users} | {
        u.api_key for u in running.demo.users
    }
    secrets |= {cc for e in running.demo.exports for cc in e.export.cc}

    forged_key = demo_api_key("mallory").text
    secrets.add(forged_key)
    bad = await client.get(
        "/v1/exports", headers={"dj-api-key": forged_key, "dj-client": "OPERATOR"}
    )
    assert bad.status_code == 401

    requested_cc = "controller.requested@demo.example.com"
    secrets.add(requested_cc)
    requested = await client.post(
        "/v1/payments/funding-transfers/export",
        headers={**_key(running, "olivia"), "X-Request-Id": "req-export-1"},
        json={"cc": [requested_cc]},
    )
    assert requested.status_code == 202, requested.text
    await _settled(running)
    [initial] = await relay.wait_for_async(1)

    refused, later = "refused.cc@demo.example.com", "busy.cc@demo.example.com"
    secrets |= {refused, later}
    relay.refuse[refused] = (550, f"5.1.1 <{refused}>: Recipient address rejected")
    relay.refuse[later] = (450, f"4.2.1 <{later}>: mailbox busy, try later")
    ready_cc = running.demo.export("olivia-ready-cc").export
    resent = await client.post(
        f"/v1/exports/{ready_cc.id}/resend-email",
        headers={**_key(running, "olivia"), "X-Request-Id": "req-resend-1"},
        json={"cc": [refused, later]},
    )
    assert resent.status_code == 200, resent.text
    await _settled(running)

    relay.refuse_sender = (553, f"5.7.1 <{MAIL_FROM}>: sender address rejected")
    refused_sender = await client.post(
        f"/v1/exports/{running.demo.export('olivia-ready').export.id}/resend-email",
        headers=_key(running, "olivia"),
    )
    assert refused_sender.status_code == 200
    await _settled(running)
    relay.refuse_sender = None

    received = await relay.wait_for_async(2)
    links = [_LINK.search(_text(r.message)) for r in received]
    tokens = {link[2] for link in links if link is not None}
    assert len(tokens) == 2
    secrets |= tokens
    path, token = next(link for link in links if link is not None).groups()
    download = await client.get(f"{path}?token={token}", headers={"X-Request-Id": "req-dl-1"})
    assert download.status_code == 200
    forged = await client.get(f"{path}?token={token[:-4]}AAAA")
    assert forged.status_code == 404
    del initial

    lines = running.logs.lines()  # every line parses as JSON, or this fails
    text = running.logs.text()
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
    assert "@" not in text
    assert "token=" not in text

    _every_line_has_its_fields(lines)
    _request_lines_carry_their_request_id(lines, requested.json()["exportId"])
    access = [line for line in lines if line["logger"] == ACCESS]
    assert {line["route"] for line in access} >= {
        "/v1/exports",
        "/v1/payments/funding-transfers/export",
        "/v1/exports/{export_id}/resend-email",
        "/v1/exports/{export_id}/download",
    }
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "alembic.runtime.migration"} <= loggers
    attempts = [line for line in lines if "attempted" in line["event"]]
    assert {line["result"] for line in attempts} >= {"accepted", "transient"}
    assert all(line["delivery_id"] and line["export_id"] for line in attempts)
    unavailable = [line for line in lines if line.get("result") == "unavailable"]
    assert unavailable
    assert unavailable[0]["error"] == "SMTPSenderRefused"


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _every_line_has_its_fields(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        assert {"timestamp", "level", "logger", "event"} <= set(line), json.dumps(line)


def _request_lines_carry_their_request_id(lines: list[dict[str, Any]], export_id: str) -> None:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if "request_id" in line:
            by_id.setdefault(line["request_id"], []).append(line)
    requested = by_id["req-export-1"]
    assert [line["event"] for line in requested] == [
        f"export {export_id} requested: FUNDING_TRANSFERS",
        "POST /v1/payments/funding-transfers/export 202",
    ]
    resend = by_id["req-resend-1"]
    assert resend[0]["event"].startswith("delivery ")
    assert resend[0]["delivery_id"]
    assert resend[-1]["event"].endswith("/resend-email 200")
    [download] = by_id["req-dl-1"]
    assert download["route"] == "/v1/exports/{export_id}/download"
    assert "?" not in download["path"]
    # the lines of requests have one; those of the generator, the dispatcher, start-up and
    # shut-down, which run outside any request, have none
    for line in lines:
        event = line["event"]
        inside = line["logger"] == ACCESS or "requested:" in event or "queued: a resend" in event
        assert ("request_id" in line) == inside, line


async def test_a_failed_database_write_logs_its_traceback_without_the_statements_values(
    running: Running,
) -> None:
    # the deliveries table refuses every write (as a full disk would): the resend is a 500,
    # logged with its traceback, whose driver error SQLAlchemy would follow with the
    # statement's values (the recipients, each cut to 300 characters, which can halve an
    # address so that no pattern of the last resort knows it any more)
    database = running.container.database()
    assert database is not None
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TRIGGER refuse_deliveries BEFORE INSERT ON deliveries "
                "BEGIN SELECT RAISE(ABORT, 'deliveries refused'); END"
            )
        )
    cc = [f"person.number{i}@customer-domain.example.com" for i in range(20)]
    response = await running.client.post(
        f"/v1/exports/{running.demo.export('olivia-ready').export.id}/resend-email",
        headers=_key(running, "olivia"),
        json={"cc": cc},
    )
    assert response.status_code == 500
    failures = [line for line in running.logs.lines() if "exception" in line]
    assert failures
    assert all("deliveries refused" in line["exception"] for line in failures)
    written = running.logs.text()
    assert "@" not in written
    assert "customer-domain" not in written
