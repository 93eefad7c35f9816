"""``export_resend.testing`` exports every suite from one place, and needs pytest and
hypothesis only for the suites; the import paths published before keep working."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import export_resend.testing
from export_resend.testing import (
    api_key_store_contract,
    contracts,
    mailer_contract,
    samples,
    unit_of_work_contract,
)

SUITES = {
    "ApiKeyStoreContract": "export_resend.testing.api_key_store_contract",
    "ExportRepositoryMachine": "export_resend.testing.state_machine",
    "FileStoreContract": "export_resend.testing.file_store_contract",
    "IdempotencyKeyRepositoryContract": "export_resend.testing.idempotency_contract",
    "MailerContract": "export_resend.testing.mailer_contract",
    "RowSourceContract": "export_resend.testing.row_source_contract",
    "SeenWebhookIdsContract": "export_resend.testing.seen_webhook_ids_contract",
    "SeenWebhookIdsMachine": "export_resend.testing.seen_webhook_ids_contract",
    "UnitOfWorkContract": "export_resend.testing.unit_of_work_contract",
}


def test_the_package_exports_every_suite_and_the_clock() -> None:
    assert sorted(export_resend.testing.__all__) == sorted([*SUITES, "ManualClock"])


@pytest.mark.parametrize(("name", "module"), SUITES.items())
def test_each_suite_is_the_one_of_its_own_module(name: str, module: str) -> None:
    assert getattr(export_resend.testing, name) is getattr(importlib.import_module(module), name)
    assert name in dir(export_resend.testing)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchContract"):
        _ = export_resend.testing.NoSuchContract


def test_the_first_module_of_the_suites_still_exports_what_it_did() -> None:
    assert contracts.UnitOfWorkContract is unit_of_work_contract.UnitOfWorkContract
    assert contracts.MailerContract is mailer_contract.MailerContract
    assert contracts.Mailbox is mailer_contract.Mailbox
    assert contracts.Received is mailer_contract.Received
    assert contracts.ApiKeyStoreContract is api_key_store_contract.ApiKeyStoreContract
    for factory in ("sample_export", "sample_delivery", "sample_email", "sample_key_record"):
        assert getattr(contracts, factory) is getattr(samples, factory)


_WITHOUT_TEST_TOOLS = """
import sys

for name in ("pytest", "_pytest", "hypothesis", "pytest_asyncio"):
    sys.modules[name] = None  # any import of them fails

from datetime import UTC, datetime

from export_resend.testing import ManualClock
from export_resend.testing.samples import sample_export

assert ManualClock(datetime(2026, 1, 1, tzinfo=UTC)).now().year == 2026
assert sample_export().id
try:
    from export_resend.testing import MailerContract
except ImportError as exc:
    print("suite:", exc)
"""


def test_the_clock_and_the_samples_need_neither_pytest_nor_hypothesis() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_WITHOUT_TEST_TOOLS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("suite: import of pytest halted")
