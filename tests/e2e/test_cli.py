"""The command line: ``demo`` prints the demo, ``serve`` serves what it prints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
from collections.abc import Iterator
from email import message_from_string, policy
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from export_resend.adapters.sql import Database, SqlAlchemyUnitOfWork
from export_resend.adapters.sql.database import HEAD_REVISION
from export_resend.cli import main
from export_resend.cli.common import shown_url
from export_resend.domain.export import ExportStatus
from export_resend.settings import Settings
from tests.processes import Output, environment, free_port, serving


@pytest.fixture(autouse=True)
def _in_a_fresh_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default keeps export-resend.db in the working directory."""
    monkeypatch.chdir(tmp_path)


def test_demo_json_lists_users_with_keys_and_exports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    demo: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert [u["name"] for u in demo["users"]] == ["olivia", "oscar", "sam", "otto"]
    assert set(demo["users"][0]) == {"name", "tenant", "client", "email", "apiKey"}
    assert {e["status"] for e in demo["exports"] if e["owner"] == "olivia"} == {
        s.value for s in ExportStatus
    }
    assert set(demo["exports"][0]) == {"id", "name", "tenant", "owner", "type", "status", "cc"}


def test_demo_prints_the_same_keys_and_ids_every_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["demo", "--json"])
    first = json.loads(capsys.readouterr().out)
    main(["demo", "--json"])
    assert json.loads(capsys.readouterr().out) == first
    assert Path("export-resend.db").is_file()


def test_db_upgrade_on_the_embedded_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"database schema: empty -> {HEAD_REVISION}\n"
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"database schema: {HEAD_REVISION} -> {HEAD_REVISION}\n"


def test_bad_settings_are_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", "postgresql+asyncpg://u:hunter2@127.0.0.1:1/x")
    monkeypatch.setenv("EXPORT_RESEND_LINK_SECRET", "a-link-secret-of-at-least-32-characters")
    assert main(["demo"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("export-resend: the database postgresql+asyncpg://u:***@127.0.0.1:1/x")
    assert "hunter2" not in error
    assert "Traceback" not in error
    for unusable in (
        "postgresql://u:hunter2@h/x",  # not an async driver
        "postgresql+asyncpg://u:hunter2@127.0.0.1:notaport/x",
        "postgresql+asyncpg://u:hunter2@127.0.0.1:99999/x",
    ):
        monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", unusable)
        assert main(["demo"]) == 2
        error = capsys.readouterr().err
        assert error.startswith("export-resend: ")
        assert "hunter2" not in error
        assert "Traceback" not in error
    for unusable in (
        "postgresql+asyncpg://u@127.0.0.1:1/x?password=hunter2",  # asyncpg takes it there too
        "postgresql+asyncpg://u:pass@hunter2@127.0.0.1:1/x",  # an '@' left unencoded
        "postgresql://u@h/x?password=hunter2",
    ):
        monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", unusable)
        assert main(["demo"]) == 2
        error = capsys.readouterr().err
        assert error.startswith("export-resend: ")
        assert "hunter2" not in error
    monkeypatch.setenv("EXPORT_RESEND_MAILER", "pigeon")
    assert main(["db", "upgrade"]) == 2
    assert "mailer" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://alice:hunter2@db.internal:5432/prod",
        "postgresql+asyncpg://alice@db.internal:5432/prod?password=hunter2",
        "postgresql+asyncpg://alice:pass@hunter2@db.internal:5432/prod",
    ],
)
def test_the_worker_start_line_names_no_user_and_no_password(url: str) -> None:
    shown = shown_url(Settings(database_url=url), user=False)
    assert shown == "postgresql+asyncpg://db.internal:5432/prod"


def test_a_worker_refuses_settings_it_cannot_work_with(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", "memory://")
    assert main(["worker"]) == 2
    assert capsys.readouterr().err == (
        "export-resend: a worker needs the database that serve uses: "
        "set EXPORT_RESEND_DATABASE_URL\n"
    )
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", "sqlite+aiosqlite:///w.db")
    monkeypatch.setenv("EXPORT_RESEND_SMTP_TIMEOUT", "90")
    assert main(["worker"]) == 2
    error = capsys.readouterr().err
    assert "EXPORT_RESEND_DELIVERY_LEASE must be at least twice" in error
    assert "Traceback" not in error


@contextlib.contextmanager
def _serving(directory: Path, port: int) -> Iterator[Output]:
    """``export-resend serve --demo`` on the embedded default in ``directory``."""
    env = environment(public_base_url=f"http://127.0.0.1:{port}")
    with serving(env, port=port, cwd=directory, args=["--demo"]) as (output, _):
        yield output


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Output, str]]:
    port = free_port()
    with _serving(tmp_path, port) as output:
        yield output, f"http://127.0.0.1:{port}"


def _replay(command: str) -> httpx.Response:
    """Send what a printed ``curl -i -X POST URL -H … -d …`` command asks for."""
    args = shlex.split(command)
    assert args[:4] == ["curl", "-i", "-X", "POST"]
    url, rest = args[4], args[5:]
    headers: dict[str, str] = {}
    body = None
    for flag, value in zip(rest[::2], rest[1::2], strict=True):
        if flag == "-H":
            name, _, content = value.partition(":")
            headers[name.strip()] = content.strip()
        elif flag == "-d":
            body = value.encode()
        else:
            raise AssertionError(f"unexpected curl flag {flag}")
    return httpx.post(url, headers=headers, content=body, timeout=10)


def test_a_resend_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    with _serving(tmp_path, port) as output:
        command = next(line for line in output.lines if "200 resend" in line)
        response = _replay(command.split(":", 1)[1].strip())
        assert response.status_code == 200
    delivery = response.json()["delivery"]
    with _serving(tmp_path, port):
        pass  # a second start upgrades nothing and seeds nothing new

    async def stored() -> list[str]:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'export-resend.db'}")
        try:
            async with SqlAlchemyUnitOfWork(database.engine) as uow:
                found = await uow.deliveries.list_for_export(UUID(response.json()["exportId"]))
        finally:
            await database.dispose()
        return [str(d.id) for d in found]

    assert asyncio.run(stored()) == [delivery["id"]]


def test_serve_answers_the_printed_walkthrough_in_order(served: tuple[Output, str]) -> None:
    output, base_url = served
    printed = "".join(output.lines)
    commands = [
        line.split(":", 1)[1].strip()
        for line in printed.splitlines()
        if line.startswith("  ") and "curl " in line
    ]
    assert len(commands) == 6
    assert all(c.startswith(f"curl -i -X POST {base_url}/") for c in commands)
    commands = commands[:5]  # the sixth requests an export: see the test below
    responses = [_replay(command) for command in commands]
    assert [r.status_code for r in responses] == [200, 403, 404, 409, 400]
    assert [r.json().get("code") for r in responses[1:]] == [
        "EXPORT_FORBIDDEN",
        "EXPORT_NOT_FOUND",
        "EXPORT_NOT_READY",
        "VALIDATION_FAILED",
    ]
    recipients = responses[0].json()["recipients"]
    shown = output.until("----- end of email -----")
    text = shown.split("----- email from ")[1].split("\n", 1)[1]
    message = message_from_string(text.split("----- end of email -----")[0], policy=policy.default)
    assert message["To"] == recipients["to"]
    assert message["Cc"] == ", ".join(recipients["cc"])
    assert f"{base_url}/v1/exports/" in text


def test_a_requested_export_is_generated_emailed_downloadable_and_resent(
    served: tuple[Output, str],
) -> None:
    output, base_url = served
    printed = "".join(output.lines)
    [command] = [
        line.split(":", 1)[1].strip() for line in printed.splitlines() if "202 request" in line
    ]
    olivia = {
        "dj-client": "OPERATOR",
        "dj-api-key": command.split("dj-api-key: ")[1].split("'")[0],
    }
    requested = _replay(command)
    assert requested.status_code == 202, requested.text
    location = base_url + requested.headers["Location"]

    shown = output.until("----- end of email -----")
    email = shown.split("----- email from ")[-1]
    link = email.split(f"{base_url}/v1/exports/", 1)[1].split()[0]
    assert link.startswith(requested.json()["exportId"])
    assert httpx.get(location, headers=olivia, timeout=10).json()["status"] == "READY"
    download = httpx.get(f"{base_url}/v1/exports/{link}", timeout=10)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    lines = download.text.split("\n")
    assert lines[0].startswith("transferId;createdAt;status;amount;")
    assert len(lines) == 1000 + 2  # the header, the demo's 1000 rows, and the final newline

    resent = httpx.post(f"{location}/resend-email", headers=olivia, timeout=10)
    assert resent.status_code == 200
    emails = httpx.get(f"{location}/emails", headers=olivia, timeout=10).json()["emails"]
    assert [e["kind"] for e in emails] == ["INITIAL", "RESEND"]
