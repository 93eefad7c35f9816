"""The contract suites of ``UnitOfWork``, ``Mailer`` and ``ApiKeyStore``, and their sample
data, where they were first published.

Each suite now lives in a module of its own (``unit_of_work_contract``,
``mailer_contract``, ``api_key_store_contract``), and ``export_resend.testing`` exports
every suite from one place; this module re-exports what it always did, so that imports
written against it keep working.
"""

from __future__ import annotations

from export_resend.testing.api_key_store_contract import ApiKeyStoreContract
from export_resend.testing.mailer_contract import Mailbox, MailerContract, Received
from export_resend.testing.samples import (
    sample_delivery,
    sample_email,
    sample_export,
    sample_key_record,
)
from export_resend.testing.unit_of_work_contract import UnitOfWorkContract

__all__ = [
    "ApiKeyStoreContract",
    "Mailbox",
    "MailerContract",
    "Received",
    "UnitOfWorkContract",
    "sample_delivery",
    "sample_email",
    "sample_export",
    "sample_key_record",
]
