"""Delivery events posted by any sender that signs with the Standard Webhooks scheme
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``; the ``standardwebhooks``
library), in our documented format."""

from export_resend.adapters.standard_webhooks.events import EVENT_TYPES
from export_resend.adapters.standard_webhooks.receiver import (
    StandardWebhooksDeliveryEventReceiver,
    check_webhook_secret,
)

__all__ = ["EVENT_TYPES", "StandardWebhooksDeliveryEventReceiver", "check_webhook_secret"]
