"""Delivery events signed with the Standard Webhooks scheme (Svix-based senders, relays)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from standardwebhooks import Webhook, WebhookVerificationError

from export_resend.adapters.standard_webhooks.events import webhook_event
from export_resend.domain.delivery_events import (
    DeliveryEventReceiver,
    EventNotAuthentic,
    EventProvider,
    ReceivedEvents,
    SeenWebhookIds,
)
from export_resend.domain.ports import Clock

TOLERANCE = timedelta(minutes=5)
"""How far a ``webhook-timestamp`` may be from now, either way (the scheme's own default)."""

MAX_WEBHOOK_BODY = 64 * 1024
"""Our event is a few hundred bytes."""

SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme's prefix, not a secret)
SECRET_BYTES = (24, 64)
"""The scheme's bounds on a secret's length, in bytes once decoded."""

_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,256}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_HEADER = 4096


def check_webhook_secret(value: str) -> str:
    """Return ``value`` if it is a Standard Webhooks secret, ``whsec_`` and the base64 of 24 to
    64 random bytes; ``ValueError`` (never quoting it) otherwise."""
    encoded = value.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    low, high = SECRET_BYTES
    if not value.startswith(SECRET_PREFIX) or not low <= len(key) <= high:
        raise ValueError(
            f"must be {SECRET_PREFIX} followed by the base64 of {low} to {high} random bytes"
        )
    return value


class StandardWebhooksDeliveryEventReceiver(DeliveryEventReceiver):
    """Reads our documented event (``events.py``) from requests signed with ``secret``
    (``whsec_…``, ``check_webhook_secret``), as the Standard Webhooks scheme signs them.

    Refused as ``EventNotAuthentic``, in this order: a body over ``MAX_WEBHOOK_BODY``; a
    missing or malformed ``webhook-id``, ``webhook-timestamp`` or ``webhook-signature``; a
    timestamp more than ``tolerance`` from ``clock``'s now; no signature in
    ``webhook-signature`` that the ``standardwebhooks`` library finds to match (it also
    checks the timestamp against the system clock, with the same 5 minutes); and a
    ``webhook-id`` already seen (``seen``, shared by replicas), remembered until its
    timestamp is out of the tolerance, so that a signed request cannot be played again
    while it would pass. Only then is the body read.

    ``release`` forgets the id, so that the sender's retry (same id, fresh signature) of a
    notification whose events could not be recorded is not taken for a replay.
    """

    def __init__(
        self,
        *,
        secret: str,
        seen: SeenWebhookIds,
        clock: Clock,
        tolerance: timedelta = TOLERANCE,
    ) -> None:
        self._webhook = Webhook(check_webhook_secret(secret))
        self._seen = seen
        self._clock = clock
        self._tolerance = tolerance

    @property
    def provider(self) -> EventProvider:
        return EventProvider.STANDARD_WEBHOOKS

    async def receive(self, headers: Mapping[str, str], body: bytes) -> ReceivedEvents:
        if len(body) > MAX_WEBHOOK_BODY:
            raise EventNotAuthentic(f"the body is larger than {MAX_WEBHOOK_BODY} bytes")
        lowered = {name.lower(): value for name, value in headers.items()}
        webhook_id = lowered.get("webhook-id", "")
        timestamp = lowered.get("webhook-timestamp", "")
        signature = lowered.get("webhook-signature", "")
        if not _WEBHOOK_ID.fullmatch(webhook_id):
            raise EventNotAuthentic("webhook-id is missing or not 1 to 256 visible characters")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise EventNotAuthentic("webhook-timestamp is missing or not whole seconds")
        if not signature or len(signature) > _MAX_SIGNATURE_HEADER:
            raise EventNotAuthentic("webhook-signature is missing or too long")
        now = self._clock.now()
        signed_at = datetime.fromtimestamp(int(timestamp), UTC)
        if abs(signed_at - now) > self._tolerance:
            raise EventNotAuthentic("webhook-timestamp is outside the tolerance: stale")
        try:
            self._webhook.verify(
                body,
                {
                    "webhook-id": webhook_id,
                    "webhook-timestamp": timestamp,
                    "webhook-signature": signature,
                },
                json_parse=False,
            )
        except WebhookVerificationError as exc:
            raise EventNotAuthentic(f"webhook-signature: {exc}") from None
        if not await self._seen.first_seen(webhook_id, now, signed_at + self._tolerance):
            raise EventNotAuthentic("webhook-id was seen already: a replay")
        event = webhook_event(body, signed_at, self._tolerance)
        return ReceivedEvents(EventProvider.STANDARD_WEBHOOKS, webhook_id, (event,))

    async def release(self, received: ReceivedEvents) -> None:
        await self._seen.forget(received.notification_id)
