"""Our documented delivery event, the body any sender signing with Standard Webhooks posts::

    {"type": "email.bounced", "timestamp": "2026-01-15T09:30:00Z",
     "data": {"messageId": "<…@exports.example.com>", "recipient": "ann@example.com",
              "bounceType": "permanent", "diagnostic": "smtp; 550 5.1.1 no such user"}}

``type`` is ``email.delivered``, ``email.bounced`` or ``email.complained``; another type is
ignored, not refused (a sender may publish more kinds than we record). ``timestamp`` is
ISO 8601 with an offset. ``bounceType`` (``permanent`` or ``transient``) is required on a
bounce and refused on anything else; ``diagnostic`` is optional. Fields we do not know are
ignored; those we know are read strictly (no number for a string, no date without a zone).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from export_resend.application.addresses import EmailAddress
from export_resend.application.event_bodies import describe, load_json_object
from export_resend.domain.delivery_events import (
    MAX_MESSAGE_ID,
    BounceType,
    DeliveryEvent,
    DeliveryEventType,
    EventIgnored,
    EventProvider,
    IgnoredReason,
    MalformedEvent,
    check_message_id,
)

EVENT_TYPES = {
    "email.delivered": DeliveryEventType.DELIVERED,
    "email.bounced": DeliveryEventType.BOUNCED,
    "email.complained": DeliveryEventType.COMPLAINED,
}
_BOUNCE_TYPES = {"permanent": BounceType.PERMANENT, "transient": BounceType.TRANSIENT}
_EVENT_TYPE_SHAPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class _Read(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


MessageId = Annotated[StrictStr, Field(max_length=MAX_MESSAGE_ID), AfterValidator(check_message_id)]


class _Data(_Read):
    message_id: MessageId = Field(alias="messageId")
    recipient: EmailAddress
    bounce_type: Literal["permanent", "transient"] | None = Field(None, alias="bounceType")
    diagnostic: StrictStr | None = None


class _Event(_Read):
    type: Literal["email.delivered", "email.bounced", "email.complained"]
    timestamp: AwareDatetime
    data: _Data

    @model_validator(mode="after")
    def _bounce_type_on_bounces_only(self) -> Self:
        if (self.type == "email.bounced") != (self.data.bounce_type is not None):
            raise ValueError("data.bounceType is required on email.bounced, and only there")
        return self


def webhook_event(body: bytes, signed_at: datetime, skew: timedelta) -> DeliveryEvent:
    """The event ``body`` reports. ``signed_at`` is the ``webhook-timestamp``: an event dated
    more than ``skew`` after it is malformed. ``EventIgnored`` (NOT_TRACKED) for a type we
    do not record; ``MalformedEvent`` naming the field (never its value) otherwise."""
    try:
        raw = load_json_object(body)
    except ValueError as exc:
        raise MalformedEvent(f"body: {exc}") from None
    kind = raw.get("type")
    if not isinstance(kind, str) or not _EVENT_TYPE_SHAPE.fullmatch(kind):
        raise MalformedEvent("type: not an event type (1 to 64 of A-Z a-z 0-9 _ . : -)")
    if kind not in EVENT_TYPES:
        raise EventIgnored(IgnoredReason.NOT_TRACKED, kind)
    try:
        event = _Event.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedEvent(describe(exc)) from None
    at = event.timestamp.astimezone(UTC)
    if at > signed_at + skew:
        raise MalformedEvent("timestamp: after the webhook-timestamp")
    data = event.data
    return DeliveryEvent(
        provider=EventProvider.STANDARD_WEBHOOKS,
        type=EVENT_TYPES[event.type],
        at=at,
        recipient=data.recipient,
        message_id=data.message_id,
        bounce_type=None if data.bounce_type is None else _BOUNCE_TYPES[data.bounce_type],
        diagnostic=data.diagnostic,
    )
