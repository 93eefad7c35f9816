"""``export-resend keys``: a key is printed once, works over HTTP, is listed, and revoked."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from export_resend.application.authenticate_caller import AuthenticateCaller
from export_resend.application.errors import Unauthenticated
from export_resend.cli import main, parser
from export_resend.container import Container
from export_resend.domain.api_keys import ApiKey
from export_resend.settings import Settings
from tests.conftest import close_storage, open_storage
from tests.processes import environment, serving

README = Path(__file__).parents[2] / "README.md"
OLIVIA = ["--tenant", "acme", "--user", "olivia", "--email", "olivia@acme.example.com"]


@pytest.fixture(autouse=True)
def _in_a_fresh_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default keeps export-resend.db in the working directory."""
    monkeypatch.chdir(tmp_path)


def keys(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["keys", *args])
    out, err = capsys.readouterr()
    return status, out, err


def create(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    status, out, err = keys(capsys, "create", *(args or (*OLIVIA, "--client", "OPERATOR")))
    assert status == 0, err
    return out.strip()


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    status, out, err = keys(capsys, "list", "--json", *args)
    assert status == 0, err
    records: list[dict[str, Any]] = json.loads(out)
    return records


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``export-resend serve`` on the embedded default in ``tmp_path``, caching no key."""
    with serving(environment(api_key_cache_seconds="0"), cwd=tmp_path) as (_, base_url):
        yield base_url


def test_create_prints_the_key_alone_once_and_says_it_will_not_be_shown_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = keys(capsys, "create", *OLIVIA, "--client", "OPERATOR")
    assert status == 0
    key = ApiKey.parse(out.strip())
    assert out == key.text + "\n"
    assert "will not be shown again" in err
    assert key.key_id in err
    assert key.text not in err
    assert Path("export-resend.db").is_file()


def test_a_created_key_works_over_http_until_it_is_revoked(
    capsys: pytest.CaptureFixture[str], served: str
) -> None:
    key = ApiKey.parse(create(capsys))
    headers = {"dj-api-key": key.text, "dj-client": "OPERATOR"}
    [fresh] = listed(capsys)
    assert fresh["lastUsedAt"] is None

    before = datetime.now(UTC)
    answer = httpx.get(f"{served}/v1/exports", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    [used] = listed(capsys)
    assert used["keyId"] == key.key_id
    assert datetime.fromisoformat(used["lastUsedAt"]) >= before.replace(microsecond=0)
    assert used["revokedAt"] is None
    status, table, _ = keys(capsys, "list")
    assert status == 0
    assert key.key_id in table
    assert key.secret not in table

    status, out, _ = keys(capsys, "revoke", key.key_id)
    assert status == 0
    assert f"API key {key.key_id} of user olivia of tenant acme is revoked since" in out
    refused = httpx.get(f"{served}/v1/exports", headers=headers, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["code"] == "UNAUTHENTICATED"
    [revoked] = listed(capsys)
    assert revoked["revokedAt"] is not None


def test_a_mistyped_key_is_a_401(capsys: pytest.CaptureFixture[str], served: str) -> None:
    key = create(capsys)
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    answer = httpx.get(
        f"{served}/v1/exports", headers={"dj-api-key": typo, "dj-client": "OPERATOR"}, timeout=10
    )
    assert answer.status_code == 401
    assert typo not in answer.text


def test_list_shows_every_key_and_never_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    olivia = ApiKey.parse(create(capsys))
    sam = ApiKey.parse(
        create(
            capsys,
            *("--tenant", "globex", "--user", "sam", "--email", "sam@globex.example.com"),
            *("--client", "SUPPLIER", "--supplier", "supplier-sam"),
        )
    )
    status, table, _ = keys(capsys, "list")
    assert status == 0
    header, *rows = table.splitlines()
    assert header.split() == [
        "KEY",
        "ID",
        "TENANT",
        "USER",
        "EMAIL",
        "CLIENT",
        "CREATED",
        "LAST",
        "USED",
        "REVOKED",
    ]
    assert [row.split()[:5] for row in rows] == [
        [olivia.key_id, "acme", "olivia", "olivia@acme.example.com", "OPERATOR"],
        [sam.key_id, "globex", "sam", "sam@globex.example.com", "SUPPLIER"],
    ]
    for key in (olivia, sam):
        assert key.secret not in table
    [only] = listed(capsys, "--tenant", "globex")
    assert only == {
        "keyId": sam.key_id,
        "tenant": "globex",
        "user": "sam",
        "email": "sam@globex.example.com",
        "client": "SUPPLIER",
        "supplier": "supplier-sam",
        "createdAt": only["createdAt"],
        "lastUsedAt": None,
        "revokedAt": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", only["createdAt"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--client", "SUPPLIER"], "a SUPPLIER needs a supplier id"),
        (["--client", "OPERATOR", "--supplier", "s1"], "an OPERATOR has no supplier id"),
        (["--client", "OPERATOR", "--email", "Boss <boss@acme.example.com>"], "--email: "),
        (["--client", "OPERATOR", "--user", "olivia smith"], "--user: must be printable ASCII"),
        (["--client", "OPERATOR", "--tenant", ""], "--tenant: "),
    ],
)
def test_create_refuses_options_that_name_no_user_in_one_line(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    status, out, err = keys(capsys, "create", *OLIVIA, *options)
    assert (status, out) == (2, "")
    assert err.startswith("export-resend: ")
    assert message in err
    assert err.count("\n") == 1


def test_a_second_key_must_name_the_user_as_the_first_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    create(capsys)
    create(capsys)
    status, out, err = keys(
        capsys, "create", *OLIVIA[:4], "--email", "o@acme.example.com", "--client", "OPERATOR"
    )
    assert (status, out) == (1, "")
    assert "user olivia of tenant acme exists with another email" in err
    assert len(listed(capsys)) == 2


def test_revoking_an_unknown_key_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    create(capsys)
    assert keys(capsys, "revoke", "nope") == (
        1,
        "",
        "export-resend: no API key has the id 'nope'\n",
    )


def test_keys_need_a_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", "memory://")
    status, _, err = keys(capsys, "list")
    assert status == 2
    assert "memory:// keeps nothing" in err


def test_keys_work_on_postgresql(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.setenv("EXPORT_RESEND_DATABASE_URL", postgres_url)
    tenant = f"tenant-{os.urandom(4).hex()}"
    options = ("--tenant", tenant, *OLIVIA[2:], "--client", "OPERATOR")
    key = ApiKey.parse(create(capsys, *options))

    async def authenticate() -> None:
        container = Container(settings=Settings(database_url=postgres_url))
        await open_storage(container)
        try:
            service: AuthenticateCaller = container.authenticate_caller()
            await service(key.text, "OPERATOR")
        finally:
            await close_storage(container)

    asyncio.run(authenticate())
    [used] = listed(capsys, "--tenant", tenant)
    assert used["lastUsedAt"] is not None
    assert keys(capsys, "revoke", key.key_id)[0] == 0
    with pytest.raises(Unauthenticated):
        asyncio.run(authenticate())


def test_the_readme_key_commands_are_real_commands() -> None:
    section = README.read_text().split("## Managing keys", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#")[0].strip()
        for line in section.splitlines()
        if line.startswith("export-resend keys")
    ]
    assert {shlex.split(c)[2] for c in commands} == {"create", "list", "revoke"}
    for command in commands:
        parser().parse_args(shlex.split(command)[1:])
