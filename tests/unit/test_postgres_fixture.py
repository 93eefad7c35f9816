"""Without PostgreSQL its tests skip, saying why, unless CI requires it: then they fail."""

from __future__ import annotations

import pytest

from tests.postgres import REQUIRE_VARIABLE, URL_VARIABLE, fresh_database

CLOSED = "postgresql+asyncpg://postgres@127.0.0.1:1/postgres"


def test_an_unreachable_server_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_VARIABLE, CLOSED)
    monkeypatch.delenv(REQUIRE_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"not reachable at .*127\.0\.0\.1:1"):
        next(fresh_database())


def test_an_unreachable_server_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_VARIABLE, CLOSED)
    monkeypatch.setenv(REQUIRE_VARIABLE, "1")
    with pytest.raises(pytest.fail.Exception, match="makes this a failure"):
        next(fresh_database())
