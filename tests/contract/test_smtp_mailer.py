"""The SMTP mailer against a real SMTP server (aiosmtpd, tests/smtp.py), never a mock."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import trustme

from export_resend.adapters.smtp import SmtpMailer, SmtpTls
from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.ports import Mailer, MailerUnavailable
from export_resend.testing import MailerContract
from export_resend.testing.mailer_contract import Mailbox, Received
from export_resend.testing.samples import sample_email
from tests.smtp import PASSWORD, USERNAME, SmtpServer

ACCEPTED = RecipientOutcome.ACCEPTED
PERMANENTLY = RecipientOutcome.REFUSED_PERMANENTLY
TRANSIENTLY = RecipientOutcome.REFUSED_TRANSIENTLY
OLIVIA = "olivia@acme.example.com"

MakeMailer = Callable[..., SmtpMailer]


class _ServerMailbox:
    """What the server recorded; read at once, since it records before replying 250."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def received(self) -> Sequence[Received]:
        return list(self._server.received)


@pytest.fixture
async def make_mailer() -> AsyncIterator[MakeMailer]:
    """Makes plain-text mailers for a server (keywords override), and closes them after."""
    made: list[SmtpMailer] = []

    def make(server: SmtpServer, **options: Any) -> SmtpMailer:
        options = {"tls": SmtpTls.NONE, "timeout": 5.0, **options}
        mailer = SmtpMailer(server.host, server.port, **options)
        made.append(mailer)
        return mailer

    yield make
    for mailer in made:
        await mailer.close()


class TestSmtpMailer(MailerContract):
    @pytest.fixture
    def mailer(self, make_mailer: MakeMailer, smtp_server: SmtpServer) -> Mailer:
        return make_mailer(smtp_server)

    @pytest.fixture
    def mailbox(self, smtp_server: SmtpServer) -> Mailbox:
        return _ServerMailbox(smtp_server)


def _untrusting_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(context)
    return context


def _chain(error: BaseException) -> str:
    """The text of an exception and of every exception behind it."""
    texts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        texts.append(f"{current!r} {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


async def test_starttls_is_used_when_required(
    make_mailer: MakeMailer, starttls_server: SmtpServer
) -> None:
    mailer = make_mailer(
        starttls_server, tls=SmtpTls.STARTTLS, tls_context=starttls_server.client_context()
    )
    email = sample_email()
    results = await mailer.send(email)
    assert [r.outcome for r in results] == [ACCEPTED, ACCEPTED]
    assert starttls_server.message_ids() == [email.message["Message-ID"]]


async def test_starttls_not_offered_is_unavailable_never_plain_text(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    mailer = make_mailer(smtp_server, tls=SmtpTls.STARTTLS)
    with pytest.raises(MailerUnavailable, match="STARTTLS"):
        await mailer.send(sample_email())
    assert smtp_server.received == []


@pytest.mark.parametrize("tls", [SmtpTls.STARTTLS, SmtpTls.TLS])
@pytest.mark.parametrize("trust", ["system default", "another CA"])
async def test_an_untrusted_certificate_is_unavailable(
    make_mailer: MakeMailer, tls: SmtpTls, trust: str, request: pytest.FixtureRequest
) -> None:
    server: SmtpServer = request.getfixturevalue(f"{tls.value}_server")
    context = None if trust == "system default" else _untrusting_context()
    mailer = make_mailer(server, tls=tls, tls_context=context)
    with pytest.raises(MailerUnavailable, match="certificate"):
        await mailer.send(sample_email())
    assert server.received == []


async def test_implicit_tls_delivers(make_mailer: MakeMailer, tls_server: SmtpServer) -> None:
    mailer = make_mailer(tls_server, tls=SmtpTls.TLS, tls_context=tls_server.client_context())
    email = sample_email()
    await mailer.send(email)
    await mailer.send(sample_email())
    assert tls_server.message_ids()[0] == email.message["Message-ID"]
    assert tls_server.connections == 1


async def test_auth_with_the_right_password_delivers(
    make_mailer: MakeMailer, auth_server: SmtpServer
) -> None:
    mailer = make_mailer(auth_server, username=USERNAME, password=PASSWORD)
    results = await mailer.send(sample_email())
    assert [r.outcome for r in results] == [ACCEPTED, ACCEPTED]
    assert len(auth_server.received) == 1


async def test_auth_rejected_is_unavailable_and_never_shows_the_password(
    make_mailer: MakeMailer, auth_server: SmtpServer
) -> None:
    wrong = "wrong-password-0123"
    mailer = make_mailer(auth_server, username=USERNAME, password=wrong)
    with pytest.raises(MailerUnavailable, match="refused the login") as raised:
        await mailer.send(sample_email())
    assert "535" in str(raised.value)
    assert wrong not in _chain(raised.value)
    assert wrong not in repr(mailer)
    assert auth_server.received == []


async def test_without_auth_an_auth_server_refuses_the_sender(
    make_mailer: MakeMailer, auth_server: SmtpServer
) -> None:
    with pytest.raises(MailerUnavailable, match="refused the sender \\(530 "):
        await make_mailer(auth_server).send(sample_email())
    assert auth_server.received == []


async def test_each_recipient_gets_its_own_answer_in_envelope_order(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse["gone@x.io"] = (550, "5.1.1 No such user")
    smtp_server.refuse["full@x.io"] = (450, "4.2.2 Mailbox full")
    email = sample_email(cc=("Gone@x.io", "full@x.io", "ok@x.io"))
    results = await make_mailer(smtp_server).send(email)
    assert results == [
        RecipientResult(OLIVIA, ACCEPTED, 250, "OK"),
        RecipientResult("Gone@x.io", PERMANENTLY, 550, "5.1.1 No such user"),
        RecipientResult("full@x.io", TRANSIENTLY, 450, "4.2.2 Mailbox full"),
        RecipientResult("ok@x.io", ACCEPTED, 250, "OK"),
    ]
    [received] = smtp_server.received
    assert received.recipients == (OLIVIA, "ok@x.io")


async def test_when_every_recipient_is_refused_no_data_is_sent(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse[OLIVIA] = (550, "5.1.1 No such user")
    smtp_server.refuse["full@x.io"] = (452, "4.2.2 Mailbox full")
    mailer = make_mailer(smtp_server)
    results = await mailer.send(sample_email(cc=("full@x.io",)))
    assert [(r.outcome, r.code) for r in results] == [(PERMANENTLY, 550), (TRANSIENTLY, 452)]
    assert smtp_server.received == []
    await mailer.send(sample_email(cc=("ok@x.io",)))  # the RSET left the connection usable
    assert [r.recipients for r in smtp_server.received] == [("ok@x.io",)]
    assert smtp_server.connections == 1


@pytest.mark.parametrize(("code", "outcome"), [(554, PERMANENTLY), (451, TRANSIENTLY)])
async def test_a_refused_data_is_the_answer_of_every_accepted_recipient(
    make_mailer: MakeMailer, smtp_server: SmtpServer, code: int, outcome: RecipientOutcome
) -> None:
    smtp_server.refuse["gone@x.io"] = (550, "5.1.1 No such user")
    smtp_server.refuse_data = (code, "content refused")
    mailer = make_mailer(smtp_server)
    results = await mailer.send(sample_email(cc=("gone@x.io", "b@x.io")))
    assert [(r.outcome, r.code, r.text) for r in results] == [
        (outcome, code, "content refused"),
        (PERMANENTLY, 550, "5.1.1 No such user"),
        (outcome, code, "content refused"),
    ]
    smtp_server.refuse_data = None
    await mailer.send(sample_email())
    assert len(smtp_server.received) == 1
    assert smtp_server.connections == 1


@pytest.mark.parametrize("code", [553, 451])
async def test_a_refused_sender_is_unavailable_not_a_refusal_of_the_recipients(
    make_mailer: MakeMailer, smtp_server: SmtpServer, code: int
) -> None:
    smtp_server.refuse_sender = (code, "sender refused")
    mailer = make_mailer(smtp_server)
    with pytest.raises(MailerUnavailable, match=f"refused the sender \\({code} sender refused"):
        await mailer.send(sample_email(cc=("b@x.io",)))
    assert smtp_server.received == []
    smtp_server.refuse_sender = None
    await mailer.send(sample_email())
    assert len(smtp_server.received) == 1


async def test_a_server_down_is_unavailable_and_back_up_it_is_used_again(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    mailer = make_mailer(smtp_server)
    smtp_server.stop()
    with pytest.raises(MailerUnavailable, match=f"{smtp_server.port}"):
        await mailer.send(sample_email())
    smtp_server.start()
    await mailer.send(sample_email())
    assert len(smtp_server.received) == 1


async def test_one_connection_carries_many_sends(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    mailer = make_mailer(smtp_server)
    for _ in range(5):
        await mailer.send(sample_email())
    assert len(smtp_server.received) == 5
    assert smtp_server.connections == 1


async def test_concurrent_sends_share_at_most_the_pool(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    smtp_server.delay = 0.02
    mailer = make_mailer(smtp_server, connections=2)
    emails = [sample_email() for _ in range(8)]
    await asyncio.gather(*(mailer.send(email) for email in emails))
    assert sorted(smtp_server.message_ids()) == sorted(e.message["Message-ID"] for e in emails)
    assert smtp_server.connections == 2


async def test_a_connection_closed_while_idle_is_replaced_transparently(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    mailer = make_mailer(smtp_server)
    await mailer.send(sample_email())
    smtp_server.stop()  # the kept-open connection dies unbeknown to the mailer's loop
    smtp_server.start()
    email = sample_email()
    results = await mailer.send(email)
    assert [r.outcome for r in results] == [ACCEPTED, ACCEPTED]
    assert smtp_server.message_ids()[1] == email.message["Message-ID"]
    assert smtp_server.connections == 2


async def test_a_drop_after_data_is_unavailable_and_the_next_send_works(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    mailer = make_mailer(smtp_server)
    smtp_server.drop_after_data = 1
    with pytest.raises(MailerUnavailable):
        await mailer.send(sample_email())
    assert len(smtp_server.received) == 1  # it may have been delivered: a retry is a duplicate
    await mailer.send(sample_email())
    assert len(smtp_server.received) == 2
    assert smtp_server.connections == 2


async def test_a_slow_server_is_unavailable_after_the_timeout(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    smtp_server.delay = 5.0
    mailer = make_mailer(smtp_server, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(MailerUnavailable, match=r"within 0\.2 s"):
        await mailer.send(sample_email())
    assert time.monotonic() - started < 2.0
    smtp_server.delay = 0.0
    await mailer.send(sample_email())
    assert len(smtp_server.received) == 1
    assert smtp_server.connections == 2


async def test_the_timeout_includes_waiting_for_a_free_connection(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    smtp_server.delay = 1.0
    mailer = make_mailer(smtp_server, timeout=1.5)  # one send fits; two in a row do not
    first, second = await asyncio.gather(
        mailer.send(sample_email()), mailer.send(sample_email()), return_exceptions=True
    )
    assert not isinstance(first, BaseException)
    assert isinstance(second, MailerUnavailable)


async def test_a_bcc_header_is_never_transmitted(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    email = sample_email(cc=())
    email.message["Bcc"] = "hidden@x.io"
    await make_mailer(smtp_server).send(email)
    [received] = smtp_server.received
    assert "Bcc" not in received.message
    assert b"hidden@x.io" not in smtp_server.data[0]
    assert email.message["Bcc"] == "hidden@x.io"  # the caller's message is left as it was


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8BITMIME", "7-bit only"])
async def test_the_message_goes_with_crlf_and_its_text_intact(
    make_mailer: MakeMailer, eight_bit: bool
) -> None:
    server = SmtpServer(eight_bit=eight_bit)
    server.start()
    try:
        email = sample_email(cc=())
        email.message.clear_content()
        email.message.set_content("Grüße, Ørsted: https://example.com/x\n.\n")
        await make_mailer(server).send(email)
    finally:
        server.stop()
    [data] = server.data
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert eight_bit or data.isascii()
    [received] = server.received
    body = received.message.get_body()
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Grüße, Ørsted: https://example.com/x\n.\n"


async def test_close_quits_and_a_later_send_reconnects(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    mailer = make_mailer(smtp_server)
    await mailer.send(sample_email())
    await mailer.close()
    await mailer.send(sample_email())
    assert len(smtp_server.received) == 2
    assert smtp_server.connections == 2


async def test_the_envelope_comes_from_the_email_not_the_headers(
    make_mailer: MakeMailer, smtp_server: SmtpServer
) -> None:
    email = sample_email(cc=("a@x.io",))
    email = dataclasses.replace(email, sender="bounces@example.com", recipients=("z@x.io",))
    await make_mailer(smtp_server).send(email)
    [received] = smtp_server.received
    assert (received.sender, received.recipients) == ("bounces@example.com", ("z@x.io",))
