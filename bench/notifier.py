"""A notifier that sends nothing, standing in for the dispatcher in benchmarks."""

from __future__ import annotations

from uuid import UUID

from export_resend.domain.ports import DeliveryNotifier


class DiscardingNotifier(DeliveryNotifier):
    """Takes the place of the ``DeliveryDispatcher``: a benchmark times the endpoint and the
    commit to the outbox; sending is the workers' job and is left out. ``start`` and ``stop``
    let the container's ``dispatcher_running`` resource run it unchanged."""

    def delivery_queued(self, delivery_id: UUID) -> None:
        pass

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
