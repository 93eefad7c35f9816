"""Hand each email to an SMTP relay with aiosmtplib, over a small pool of kept-open connections."""

from __future__ import annotations

import asyncio
import copy
import ssl
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from enum import StrEnum

from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPSenderRefused,
)

from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.ports import Mailer, MailerUnavailable, OutgoingEmail

_SERVICE_NOT_AVAILABLE = 421


class SmtpTls(StrEnum):
    """How the connection to the relay is protected."""

    NONE = "none"  # plain text throughout
    STARTTLS = "starttls"  # upgraded with STARTTLS, which the relay must offer
    TLS = "tls"  # TLS from the first byte ("implicit TLS", usually port 465)


class _Stale(Exception):
    """A kept-open connection turned out dead before the relay accepted anything."""


class SmtpMailer(Mailer):
    """Sends each email in one SMTP transaction, reusing up to ``connections`` connections.

    The envelope is ``email.sender`` and exactly ``email.recipients``; the message goes as
    DATA, flattened with ``email.policy.SMTP`` (CRLF), without any ``Bcc`` header, and with
    ``BODY=8BITMIME`` when the relay offers it (7-bit transfer encodings otherwise).

    Each recipient gets the relay's own answer to its RCPT: 2xx is ACCEPTED, 4xx
    REFUSED_TRANSIENTLY, anything else REFUSED_PERMANENTLY, with the code and text. When
    no recipient is accepted the transaction is reset (RSET) and no DATA is sent. When
    DATA or MAIL FROM is refused with a code, every recipient that MAIL FROM would have
    covered, or that RCPT accepted, gets that refusal.

    Connections are kept open between sends and re-opened when lost; at most
    ``connections`` are open at once, and further sends wait for one. A kept-open
    connection found dead at MAIL FROM (disconnected, or 421) is replaced and the email
    tried once more on the new one, since the relay had accepted nothing yet.

    ``MailerUnavailable`` (the connection used is discarded) is raised when the relay
    cannot be reached, the TLS handshake fails or is not offered with ``starttls`` (never a
    fall-back to plain text), the login is refused, or the connection breaks or times out
    in the middle of the transaction, including after DATA and before its final reply. Its
    message never contains the password.

    ``timeout`` bounds the whole ``send`` call: waiting for a free connection, connecting,
    TLS, login and the transaction, with its one retry. So a send returns or raises within
    ``timeout`` seconds even when many are queued for few connections. ``tls_context``
    replaces the system's default certificate verification (for a private CA, say).

    The connections belong to the event loop that opened them: use one mailer per loop.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: SmtpTls = SmtpTls.STARTTLS,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        connections: int = 1,
    ) -> None:
        if connections < 1:
            raise ValueError("an SMTP mailer needs at least one connection")
        if timeout <= 0:
            raise ValueError("the SMTP timeout must be positive")
        self._host = host
        self._port = port
        self._tls = SmtpTls(tls)
        self._username = username
        self._password = password
        self._timeout = timeout
        self._tls_context = tls_context
        self._idle: list[SMTP] = []
        self._slots = asyncio.Semaphore(connections)

    def __repr__(self) -> str:
        return f"SmtpMailer({self._where}, tls={self._tls.value}, username={self._username!r})"

    @property
    def _where(self) -> str:
        return f"{self._host}:{self._port}"

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]:
        """One transaction to exactly ``email.recipients``: one result each, in order."""
        try:
            async with asyncio.timeout(self._timeout), self._slots:
                return await self._send(email)
        except TimeoutError:
            raise MailerUnavailable(
                f"the SMTP relay {self._where} did not finish within {self._timeout:g} s"
            ) from None

    async def close(self) -> None:
        """QUIT and close every idle connection; a later ``send`` opens new ones."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(smtp) for smtp in idle))

    async def _send(self, email: OutgoingEmail) -> list[RecipientResult]:
        smtp, reused = await self._take()
        try:
            try:
                results = await self._transaction(smtp, email, reused=reused)
            except _Stale:
                smtp.close()
                smtp = await self._connect()
                results = await self._transaction(smtp, email, reused=False)
        except (SMTPException, OSError) as exc:
            smtp.close()
            raise MailerUnavailable(
                f"the connection to the SMTP relay {self._where} failed: {exc}"
            ) from exc
        except BaseException:
            smtp.close()
            raise
        if smtp.is_connected:
            self._idle.append(smtp)
        return results

    async def _take(self) -> tuple[SMTP, bool]:
        """An idle connection that still looks alive (and ``True``), or a new one."""
        while self._idle:
            smtp = self._idle.pop()
            if smtp.is_connected:
                return smtp, True
            smtp.close()
        return await self._connect(), False

    async def _connect(self) -> SMTP:
        smtp = SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            use_tls=self._tls is SmtpTls.TLS,
            start_tls=self._tls is SmtpTls.STARTTLS,
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
            if self._username is not None:
                await smtp.login(self._username, self._password or "")
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except SMTPAuthenticationError as exc:
            smtp.close()
            raise MailerUnavailable(
                f"the SMTP relay {self._where} refused the login of {self._username!r}"
                f" ({exc.code} {exc.message}): check the SMTP username and password"
            ) from exc
        except (SMTPException, OSError) as exc:
            smtp.close()
            raise MailerUnavailable(
                f"could not open a {self._tls.value} SMTP connection to {self._where}: {exc}"
            ) from exc
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _transaction(
        self, smtp: SMTP, email: OutgoingEmail, *, reused: bool
    ) -> list[RecipientResult]:
        eight_bit = smtp.supports_extension("8bitmime")
        try:
            await smtp.mail(email.sender, options=["BODY=8BITMIME"] if eight_bit else [])
        except SMTPSenderRefused as exc:
            if reused and exc.code == _SERVICE_NOT_AVAILABLE:
                raise _Stale from exc
            # a refusal of the sender (530 auth required, a policy block) says nothing about
            # the recipients: the message waits for the relay, as for an outage
            await _reset(smtp)
            raise MailerUnavailable(
                f"the SMTP relay {self._where} refused the sender ({exc.code} {exc.message})"
            ) from exc
        except ConnectionError as exc:
            if reused:
                raise _Stale from exc
            raise
        except ValueError as exc:
            raise MailerUnavailable(f"the sender {email.sender!r} cannot go in SMTP") from exc
        results = [await _recipient(smtp, address) for address in email.recipients]
        if not any(r.outcome is RecipientOutcome.ACCEPTED for r in results):
            await _reset(smtp)
            return results
        try:
            await smtp.data(_flatten(email.message, eight_bit=eight_bit))
        except SMTPDataError as exc:
            await _reset(smtp)
            return [
                _result(r.address, exc.code, exc.message)
                if r.outcome is RecipientOutcome.ACCEPTED
                else r
                for r in results
            ]
        return results

    async def _quit(self, smtp: SMTP) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await smtp.quit()
        except (SMTPException, OSError):
            pass
        finally:
            smtp.close()


async def _recipient(smtp: SMTP, address: str) -> RecipientResult:
    try:
        reply = await smtp.rcpt(address)
    except SMTPRecipientRefused as exc:
        return _result(address, exc.code, exc.message)
    except ValueError:
        return RecipientResult(
            address, RecipientOutcome.REFUSED_PERMANENTLY, None, "not an address SMTP can carry"
        )
    return _result(address, reply.code, reply.message)


async def _reset(smtp: SMTP) -> None:
    """RSET, or drop the connection if even that fails: it is then in an unknown state."""
    try:
        await smtp.rset()
    except (SMTPException, OSError):
        smtp.close()


def _result(address: str, code: int, text: str) -> RecipientResult:
    if 200 <= code < 300:
        outcome = RecipientOutcome.ACCEPTED
    elif 400 <= code < 500:
        outcome = RecipientOutcome.REFUSED_TRANSIENTLY
    else:
        outcome = RecipientOutcome.REFUSED_PERMANENTLY
    return RecipientResult(address, outcome, code, text)


def _flatten(message: EmailMessage, *, eight_bit: bool) -> bytes:
    """The message as DATA: CRLF line ends, no Bcc, 8-bit only if the relay takes it."""
    if "Bcc" in message or "Resent-Bcc" in message:
        message = copy.copy(message)  # deleting rebinds the header list: the original keeps it
        del message["Bcc"]
        del message["Resent-Bcc"]
    return message.as_bytes(policy=policy.SMTP if eight_bit else policy.SMTP.clone(cte_type="7bit"))
