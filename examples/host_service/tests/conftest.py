"""acme-billing under test: a fresh app, database, spool and volume for each test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acme_billing.app import AcmeBilling, AcmeConfig
from acme_billing.mailer import Spool
from acme_world import PUBLIC_URL, Acme


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own EXPORT_RESEND_* variables never reach acme's tests."""
    for name in os.environ:
        if name.startswith("EXPORT_RESEND_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def acme(tmp_path: Path) -> AsyncIterator[Acme]:
    config = AcmeConfig(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'acme.db'}",
        public_url=PUBLIC_URL,
        link_secret="acme-link-secret-from-the-vault-0123456789",
        spool=tmp_path / "spool",
        volume=tmp_path / "volume",
    )
    billing = AcmeBilling(config)
    try:
        yield Acme(billing, Spool(config.spool), config.volume)
    finally:
        await billing.engine.dispose()
