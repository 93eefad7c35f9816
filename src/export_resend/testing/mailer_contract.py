"""The contract suite of ``Mailer``: subclass it and provide ``mailer`` and ``mailbox``
fixtures::

    class TestMyMailer(MailerContract):
        @pytest.fixture
        def mailer(self, relay) -> Mailer:
            return MyMailer(relay.host, relay.port)

        @pytest.fixture
        def mailbox(self, relay) -> Mailbox:
            return relay  # anything with `async def received(self) -> Sequence[Received]`

The mailbox must start empty for each test.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Protocol

import pytest

from export_resend.domain.delivery import RecipientOutcome
from export_resend.domain.ports import Mailer
from export_resend.testing.samples import sample_email

__all__ = ["Mailbox", "MailerContract", "Received", "sample_email"]


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the far side of a mailer got it."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage


class Mailbox(Protocol):
    """What a mailer under test delivered, in order."""

    async def received(self) -> Sequence[Received]: ...


def _addresses(message: EmailMessage, header: str) -> list[tuple[str, str]]:
    """The (display name, address) pairs of every ``header`` field of ``message``, in order."""
    return getaddresses([str(value) for value in message.get_all(header, [])])


def _body_lines(message: EmailMessage, subtype: str) -> list[str] | None:
    """The lines of the ``text/<subtype>`` body of ``message`` (``None``: it has none), line
    endings aside: SMTP carries CRLF, a file or a console LF."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    content = part.get_content()
    assert isinstance(content, str)
    return content.splitlines()


class MailerContract:
    """What every ``Mailer`` must do. Needs ``mailer`` and ``mailbox`` fixtures."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def mailer(self) -> Mailer:
        raise NotImplementedError("provide the mailer fixture")

    @pytest.fixture
    def mailbox(self) -> Mailbox:
        raise NotImplementedError("provide the mailbox fixture")

    async def test_one_message_reaches_exactly_the_envelope(
        self, mailer: Mailer, mailbox: Mailbox
    ) -> None:
        email = sample_email(cc=("a@x.io", "b@x.io"))
        results = await mailer.send(email)
        assert [r.address for r in results] == list(email.recipients)
        assert all(r.outcome is RecipientOutcome.ACCEPTED for r in results)
        [received] = await mailbox.received()
        assert received.sender == email.sender
        assert received.recipients == email.recipients

    @pytest.mark.parametrize("cc", [("a@x.io", "b@x.io"), ()], ids=["cc", "no cc"])
    async def test_what_arrives_has_exactly_the_headers_and_bodies_sent(
        self, mailer: Mailer, mailbox: Mailbox, cc: tuple[str, ...]
    ) -> None:
        email = sample_email(cc=cc)
        await mailer.send(email)
        [received] = await mailbox.received()
        sent, got = email.message, received.message
        for header in ("To", "Cc"):
            assert _addresses(got, header) == _addresses(sent, header), header
        for header in ("Subject", "Message-ID"):
            assert got.get_all(header) == sent.get_all(header), header
        for subtype in ("plain", "html"):
            assert _body_lines(got, subtype) == _body_lines(sent, subtype), f"text/{subtype}"

    async def test_the_envelope_is_not_read_from_the_headers(
        self, mailer: Mailer, mailbox: Mailbox
    ) -> None:
        email = sample_email(cc=("a@x.io",))
        narrowed = dataclasses.replace(email, recipients=email.recipients[:1])
        await mailer.send(narrowed)
        [received] = await mailbox.received()
        assert received.recipients == ("olivia@acme.example.com",)

    async def test_messages_arrive_one_each_in_order(
        self, mailer: Mailer, mailbox: Mailbox
    ) -> None:
        emails = [sample_email(cc=()) for _ in range(3)]
        for email in emails:
            await mailer.send(email)
        received = await mailbox.received()
        assert [r.message["Message-ID"] for r in received] == [
            e.message["Message-ID"] for e in emails
        ]

    async def test_sends_may_run_at_once(self, mailer: Mailer, mailbox: Mailbox) -> None:
        emails = [sample_email(cc=()) for _ in range(4)]
        results = await asyncio.gather(*(mailer.send(email) for email in emails))
        assert all(r.outcome is RecipientOutcome.ACCEPTED for rs in results for r in rs)
        received = await mailbox.received()
        assert sorted(r.message["Message-ID"] for r in received) == sorted(
            e.message["Message-ID"] for e in emails
        )

    async def test_a_send_after_close_still_works(self, mailer: Mailer, mailbox: Mailbox) -> None:
        await mailer.send(sample_email(cc=()))
        await mailer.close()
        await mailer.close()
        await mailer.send(sample_email(cc=()))
        assert len(await mailbox.received()) == 2
