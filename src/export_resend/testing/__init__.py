"""Tools for testing code built on export-resend, and adapters written for it.

Every contract suite is exported from here, as is ``ManualClock``::

    from export_resend.testing import FileStoreContract, ManualClock, MailerContract

- ``ManualClock``: a clock that moves when told to.
- one contract suite per port (pytest classes to subclass): ``UnitOfWorkContract``,
  ``IdempotencyKeyRepositoryContract``, ``MailerContract``, ``ApiKeyStoreContract``,
  ``FileStoreContract``, ``RowSourceContract``, ``SeenWebhookIdsContract``; and
  ``ExportRepositoryMachine`` and ``SeenWebhookIdsMachine``, comparing any export repository
  or seen-ids store with a model.
- ``delivery_events``: SNS messages and Standard Webhooks requests, signed as the providers
  sign them, for testing what receives them.
- ``strategies``: hypothesis strategies for addresses, CC lists, callers and exports;
  ``samples``: the data the suites use.

All but ``ManualClock`` and ``samples`` need hypothesis and pytest
(``pip install 'export-resend[testing]'``); the suites are imported on first use, so that
importing this package for ``ManualClock`` needs neither. See docs/testing-kit.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from export_resend.testing.clock import ManualClock

if TYPE_CHECKING:
    from export_resend.testing.api_key_store_contract import ApiKeyStoreContract
    from export_resend.testing.file_store_contract import FileStoreContract
    from export_resend.testing.idempotency_contract import IdempotencyKeyRepositoryContract
    from export_resend.testing.mailer_contract import MailerContract
    from export_resend.testing.row_source_contract import RowSourceContract
    from export_resend.testing.seen_webhook_ids_contract import (
        SeenWebhookIdsContract,
        SeenWebhookIdsMachine,
    )
    from export_resend.testing.state_machine import ExportRepositoryMachine
    from export_resend.testing.unit_of_work_contract import UnitOfWorkContract

__all__ = [
    "ApiKeyStoreContract",
    "ExportRepositoryMachine",
    "FileStoreContract",
    "IdempotencyKeyRepositoryContract",
    "MailerContract",
    "ManualClock",
    "RowSourceContract",
    "SeenWebhookIdsContract",
    "SeenWebhookIdsMachine",
    "UnitOfWorkContract",
]

_SUITES = {
    "ApiKeyStoreContract": "api_key_store_contract",
    "ExportRepositoryMachine": "state_machine",
    "FileStoreContract": "file_store_contract",
    "IdempotencyKeyRepositoryContract": "idempotency_contract",
    "MailerContract": "mailer_contract",
    "RowSourceContract": "row_source_contract",
    "SeenWebhookIdsContract": "seen_webhook_ids_contract",
    "SeenWebhookIdsMachine": "seen_webhook_ids_contract",
    "UnitOfWorkContract": "unit_of_work_contract",
}
"""Each suite's module, imported when the suite is first asked for (PEP 562)."""


def __getattr__(name: str) -> Any:
    module = _SUITES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    suite = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = suite
    return suite


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
