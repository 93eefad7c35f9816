"""A mailer that keeps what it is given, and can be told to refuse."""

from __future__ import annotations

from collections.abc import Sequence

from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.ports import Mailer, MailerUnavailable, OutgoingEmail


class InMemoryMailer(Mailer):
    """Records every email it accepts in ``sent``, in order.

    ``refuse`` maps an address (lower case) to the result the relay should give it;
    ``unavailable`` makes every send raise ``MailerUnavailable`` and record nothing.
    """

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.refuse: dict[str, RecipientResult] = {}
        self.unavailable = False

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]:
        if self.unavailable:
            raise MailerUnavailable("the in-memory relay is set to be unavailable")
        results = [
            self.refuse.get(address.lower(), RecipientResult(address, RecipientOutcome.ACCEPTED))
            for address in email.recipients
        ]
        if any(r.outcome is RecipientOutcome.ACCEPTED for r in results):
            self.sent.append(email)
        return results

    async def close(self) -> None:
        """Nothing is held between sends."""
