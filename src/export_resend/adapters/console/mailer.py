"""Print each whole message instead of sending it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.ports import Mailer, OutgoingEmail


class ConsoleMailer(Mailer):
    """Writes the envelope and the full rendered message to ``stream``; accepts everyone."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]:
        stream = self._stream or sys.stdout
        text = email.message.as_string(policy=email.message.policy.clone(linesep="\n"))
        stream.write(
            f"----- email from {email.sender} to {', '.join(email.recipients)} -----\n"
            f"{text}\n----- end of email -----\n"
        )
        stream.flush()
        return [RecipientResult(a, RecipientOutcome.ACCEPTED) for a in email.recipients]

    async def close(self) -> None:
        """Nothing is held between sends."""
