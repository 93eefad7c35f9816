"""acme's mail spool: each message is a file that acme's relay picks up and sends.

A spool file is the envelope (one line of JSON: sender and recipients) then the message as
it goes on the wire. It appears whole or not at all: written under a hidden name, then
renamed. Names sort in the order the messages were handed over.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.ports import Mailer, MailerUnavailable, OutgoingEmail

_SUFFIX = ".msg"


class SpoolMailer(Mailer):
    """Hands each email to the spool in ``directory`` (made on first use); the relay that
    empties it is acme's. A spool that cannot be written is ``MailerUnavailable``: the
    dispatcher tries again later."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._prefix = f"{time.time_ns():020d}"
        self._numbers = itertools.count()

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]:
        name = f"{self._prefix}-{next(self._numbers):09d}{_SUFFIX}"
        envelope = json.dumps({"sender": email.sender, "recipients": list(email.recipients)})
        data = envelope.encode() + b"\n" + email.message.as_bytes(policy=policy.SMTP)
        try:
            await asyncio.to_thread(self._write, name, data)
        except OSError as exc:
            raise MailerUnavailable(f"the spool cannot be written: {exc.strerror}") from exc
        return [RecipientResult(r, RecipientOutcome.ACCEPTED) for r in email.recipients]

    async def close(self) -> None:
        """Nothing is held between sends."""

    def _write(self, name: str, data: bytes) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        draft = self._directory / f".{name}"
        with draft.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        draft.rename(self._directory / name)


@dataclass(frozen=True)
class SpooledEmail:
    """One message as the spool holds it."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage


class Spool:
    """What is in the spool, oldest first: what acme's relay reads, and what tests read."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def received(self) -> Sequence[SpooledEmail]:
        return await asyncio.to_thread(self._read)

    def _read(self) -> list[SpooledEmail]:
        if not self._directory.exists():
            return []
        names = sorted(p for p in self._directory.iterdir() if p.name.endswith(_SUFFIX))
        return [_parse(path.read_bytes()) for path in names if not path.name.startswith(".")]


def _parse(data: bytes) -> SpooledEmail:
    envelope, _, raw = data.partition(b"\n")
    fields = json.loads(envelope)
    message = BytesParser(_class=EmailMessage, policy=policy.default).parsebytes(raw)
    return SpooledEmail(fields["sender"], tuple(fields["recipients"]), message)
