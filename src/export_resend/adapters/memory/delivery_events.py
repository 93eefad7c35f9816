"""The ports of delivery events, in memory: seen webhook ids (one process only), and SNS's
certificates and subscription confirmations served from a dict, for tests."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime

from export_resend.domain.delivery_events import (
    CertificateFetcher,
    ProviderUnavailable,
    SeenWebhookIds,
    SubscriptionConfirmer,
)


class InMemorySeenWebhookIds(SeenWebhookIds):
    """Seen ids in a dict, each dropped once its end has passed. Atomic within one event
    loop (nothing awaits); not shared between processes, so not for more than one replica."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._ends: list[tuple[datetime, str]] = []

    async def first_seen(self, webhook_id: str, now: datetime, until: datetime) -> bool:
        self._drop_ended(now)
        kept = self._until.get(webhook_id)
        if kept is not None and kept > now:
            return False
        self._until[webhook_id] = until
        heapq.heappush(self._ends, (until, webhook_id))
        return True

    async def forget(self, webhook_id: str) -> None:
        self._until.pop(webhook_id, None)

    def __len__(self) -> int:
        return len(self._until)

    def _drop_ended(self, now: datetime) -> None:
        while self._ends and self._ends[0][0] <= now:
            until, webhook_id = heapq.heappop(self._ends)
            if self._until.get(webhook_id) == until:
                del self._until[webhook_id]


class InMemoryCertificateFetcher(CertificateFetcher):
    """Serves the PEM bytes given for each URL; ``ProviderUnavailable`` for any other URL.
    ``fetched`` lists every URL asked for, in order."""

    def __init__(self, certificates: Mapping[str, bytes] | None = None) -> None:
        self.certificates = dict(certificates or {})
        self.fetched: list[str] = []

    async def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        try:
            return self.certificates[url]
        except KeyError:
            raise ProviderUnavailable("no certificate at that URL") from None


class InMemorySubscriptionConfirmer(SubscriptionConfirmer):
    """Records each URL it is asked to visit in ``confirmed``; raises
    ``ProviderUnavailable`` instead while ``unavailable`` is true."""

    def __init__(self) -> None:
        self.confirmed: list[str] = []
        self.unavailable = False

    async def confirm(self, url: str) -> None:
        if self.unavailable:
            raise ProviderUnavailable("SNS did not answer")
        self.confirmed.append(url)
