"""The in-process dispatcher: sends what it is told about, survives failures, drains."""

from __future__ import annotations

import asyncio
import logging
from uuid import uuid4

import pytest

from export_resend.application.dispatcher import DeliveryDispatcher
from export_resend.domain.delivery import Delivery, DeliveryKind, DeliveryStatus
from export_resend.domain.recipients import Recipients
from tests.conftest import World
from tests.factories import NOW, caller, export

OLIVIA = caller()


async def _queue(world: World) -> Delivery:
    target = await world.add_export(export(OLIVIA))
    delivery = Delivery.queue(
        target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email), NOW, "example.com"
    )
    world.store.deliveries[delivery.id] = delivery
    return delivery


async def test_notices_before_start_are_sent_after_it(world: World) -> None:
    dispatcher = world.container.dispatcher()
    delivery = await _queue(world)
    dispatcher.delivery_queued(delivery.id)
    assert world.mailer.sent == []
    dispatcher.start()
    await dispatcher.idle()
    assert world.store.deliveries[delivery.id].status is DeliveryStatus.SENT
    await dispatcher.stop()


async def test_stop_finishes_what_was_noticed(world: World) -> None:
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    deliveries = [await _queue(world) for _ in range(5)]
    for delivery in deliveries:
        dispatcher.delivery_queued(delivery.id)
    await dispatcher.stop()
    assert len(world.mailer.sent) == 5


async def test_a_failure_is_logged_and_the_next_delivery_still_sent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[object] = []

    class Exploding:
        async def __call__(self, delivery_id: object) -> None:
            calls.append(delivery_id)
            if len(calls) == 1:
                raise RuntimeError("boom")

    dispatcher = DeliveryDispatcher(send=Exploding())  # type: ignore[arg-type]
    dispatcher.start()
    first, second = uuid4(), uuid4()
    with caplog.at_level(logging.ERROR):
        dispatcher.delivery_queued(first)
        dispatcher.delivery_queued(second)
        await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    assert calls == [first, second]
    assert f"delivery {first}: unexpected failure" in caplog.text
