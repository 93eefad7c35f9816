"""The shipped in-memory and console adapters pass the same contracts as any other."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from uuid import uuid4

import pytest

from export_resend.adapters.console import ConsoleMailer
from export_resend.adapters.memory import (
    InMemoryApiKeyStore,
    InMemoryMailer,
    InMemoryStore,
    InMemoryUnitOfWork,
)
from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord
from export_resend.domain.ports import ApiKeyStore, Mailer, MailerUnavailable, UnitOfWorkFactory
from export_resend.testing import (
    ApiKeyStoreContract,
    IdempotencyKeyRepositoryContract,
    MailerContract,
    UnitOfWorkContract,
)
from export_resend.testing.mailer_contract import Mailbox, Received
from export_resend.testing.samples import SAMPLE_MOMENT as NOW
from export_resend.testing.samples import sample_email


class TestInMemoryUnitOfWork(UnitOfWorkContract, IdempotencyKeyRepositoryContract):
    @pytest.fixture
    def unit_of_work(self) -> UnitOfWorkFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)

    @pytest.fixture
    def row_locks(self) -> bool:
        return True


async def test_row_locks_are_forgotten_once_no_unit_of_work_holds_or_waits_for_them() -> None:
    """A lock is an entry while held; without forgetting them, every row ever locked would
    keep one. A wait cancelled leaves nothing behind either."""
    store = InMemoryStore()
    key = IdempotencyKey("scope", "POST /v1/x", "k")
    record = IdempotencyRecord.begin(
        key, "f" * 64, now=NOW, retention=timedelta(days=1), lease_id=uuid4(), lease=timedelta(1)
    )
    async with InMemoryUnitOfWork(store) as uow:
        await uow.idempotency.add(record)
        await uow.commit()

    async def read_locked() -> None:
        async with InMemoryUnitOfWork(store) as uow:
            await uow.idempotency.get(key, lock=True)

    async with InMemoryUnitOfWork(store) as holder:
        await holder.idempotency.get(key, lock=True)
        waiting, cancelled = asyncio.create_task(read_locked()), asyncio.create_task(read_locked())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert not store.locks.idle
    await asyncio.wait_for(waiting, 5)
    assert store.locks.idle


class TestInMemoryApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_keys(self) -> ApiKeyStore:
        return InMemoryApiKeyStore()


class _MemoryMailbox:
    def __init__(self, mailer: InMemoryMailer) -> None:
        self._mailer = mailer

    async def received(self) -> Sequence[Received]:
        return [Received(e.sender, e.recipients, e.message) for e in self._mailer.sent]


class TestInMemoryMailer(MailerContract):
    @pytest.fixture
    def memory_mailer(self) -> InMemoryMailer:
        return InMemoryMailer()

    @pytest.fixture
    def mailer(self, memory_mailer: InMemoryMailer) -> Mailer:
        return memory_mailer

    @pytest.fixture
    def mailbox(self, memory_mailer: InMemoryMailer) -> Mailbox:
        return _MemoryMailbox(memory_mailer)


class _ConsoleMailbox:
    """Reads back what the console mailer printed."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    async def received(self) -> Sequence[Received]:
        found = []
        for block in self._stream.getvalue().split("----- end of email -----\n"):
            if not block:
                continue
            banner, _, text = block.partition("\n")
            envelope = banner.removeprefix("----- email from ").removesuffix(" -----")
            sender, _, recipients = envelope.partition(" to ")
            message = message_from_string(text, policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(Received(sender, tuple(recipients.split(", ")), message))
        return found


class TestConsoleMailer(MailerContract):
    @pytest.fixture
    def stream(self) -> io.StringIO:
        return io.StringIO()

    @pytest.fixture
    def mailer(self, stream: io.StringIO) -> Mailer:
        return ConsoleMailer(stream)

    @pytest.fixture
    def mailbox(self, stream: io.StringIO) -> Mailbox:
        return _ConsoleMailbox(stream)


async def test_the_in_memory_mailer_can_refuse_and_be_unavailable() -> None:
    mailer = InMemoryMailer()
    refusal = RecipientResult("a@x.io", RecipientOutcome.REFUSED_PERMANENTLY, 550, "no")
    mailer.refuse["a@x.io"] = refusal
    results = await mailer.send(sample_email(cc=("a@x.io",)))
    assert [r.outcome for r in results] == [RecipientOutcome.ACCEPTED, refusal.outcome]
    mailer.unavailable = True
    with pytest.raises(MailerUnavailable):
        await mailer.send(sample_email())
    assert len(mailer.sent) == 1
