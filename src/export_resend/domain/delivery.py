"""One email to send: a record in the outbox, from queued to sent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from export_resend.domain.recipients import Recipients


class DeliveryKind(StrEnum):
    """Why the email is sent: the export became READY, or its owner asked again."""

    INITIAL = "INITIAL"
    RESEND = "RESEND"


class DeliveryStatus(StrEnum):
    """QUEUED until a dispatcher takes it; SENT once the relay accepted it; DEAD if never."""

    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    DEAD = "DEAD"


class RecipientOutcome(StrEnum):
    """What the relay said about one address."""

    ACCEPTED = "ACCEPTED"
    REFUSED_PERMANENTLY = "REFUSED_PERMANENTLY"
    REFUSED_TRANSIENTLY = "REFUSED_TRANSIENTLY"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The relay's answer for one address of the envelope."""

    address: str
    outcome: RecipientOutcome
    code: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One email for one export. ``message_id`` is made once and kept on every retry."""

    id: UUID
    export_id: UUID
    kind: DeliveryKind
    recipients: Recipients
    message_id: str
    status: DeliveryStatus
    queued_at: datetime
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str | None = None
    results: tuple[RecipientResult, ...] = ()

    @classmethod
    def queue(
        cls,
        export_id: UUID,
        kind: DeliveryKind,
        recipients: Recipients,
        now: datetime,
        message_id_domain: str,
    ) -> Delivery:
        """A new QUEUED delivery with a fresh random id and the Message-ID derived from it."""
        delivery_id = uuid4()
        return cls(
            id=delivery_id,
            export_id=export_id,
            kind=kind,
            recipients=recipients,
            message_id=f"<{delivery_id.hex}@{message_id_domain}>",
            status=DeliveryStatus.QUEUED,
            queued_at=now,
        )

    def sent(self, results: tuple[RecipientResult, ...], now: datetime) -> Delivery:
        """The relay took the message; ``results`` say what it did with each address."""
        return dataclasses.replace(
            self,
            status=DeliveryStatus.SENT,
            attempts=self.attempts + 1,
            sent_at=now,
            last_error=None,
            results=results,
        )

    def attempt_failed(self, error: str) -> Delivery:
        """The relay could not be reached or refused for now: still QUEUED, one attempt more."""
        return dataclasses.replace(
            self, status=DeliveryStatus.QUEUED, attempts=self.attempts + 1, last_error=error
        )

    def dead(self, reason: str) -> Delivery:
        """It will never be sent, for ``reason``."""
        return dataclasses.replace(self, status=DeliveryStatus.DEAD, last_error=reason)
