"""Sending one queued delivery: SENT with results, QUEUED again, or DEAD."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from dependency_injector import providers

from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import Export
from export_resend.domain.recipients import Recipients
from tests.conftest import World
from tests.factories import NOW, TTL, caller, export

OLIVIA = caller("olivia", "acme")


async def _queued(world: World, target: Export, cc: tuple[str, ...] = ()) -> Delivery:
    await world.add_export(target)
    delivery = Delivery.queue(
        target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email, cc), NOW, "example.com"
    )
    world.store.deliveries[delivery.id] = delivery
    return delivery


async def test_a_queued_delivery_is_sent_once_and_recorded_sent(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA), ("a@x.io",))
    send = world.container.send_queued_email()
    outcome = await send(delivery.id)
    again = await send(delivery.id)
    assert outcome is not None
    assert outcome.status is DeliveryStatus.SENT
    assert outcome.attempts == 1
    assert outcome.sent_at == NOW
    assert [r.outcome for r in outcome.results] == [RecipientOutcome.ACCEPTED] * 2
    assert again == outcome
    assert len(world.mailer.sent) == 1
    assert world.store.deliveries[delivery.id] == outcome


async def test_a_refused_recipient_is_recorded_and_the_rest_delivered(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA), ("gone@x.io",))
    refusal = RecipientResult(
        "gone@x.io", RecipientOutcome.REFUSED_PERMANENTLY, 550, "no such user"
    )
    world.mailer.refuse["gone@x.io"] = refusal
    outcome = await world.container.send_queued_email()(delivery.id)
    assert outcome is not None
    assert outcome.results == (
        RecipientResult(OLIVIA.email, RecipientOutcome.ACCEPTED),
        refusal,
    )
    assert len(world.mailer.sent) == 1


async def test_an_unavailable_relay_leaves_it_queued_with_the_error(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA))
    world.mailer.unavailable = True
    outcome = await world.container.send_queued_email()(delivery.id)
    assert outcome is not None
    assert outcome.status is DeliveryStatus.QUEUED
    assert outcome.attempts == 1
    assert outcome.last_error is not None
    assert "unavailable" in outcome.last_error
    world.mailer.unavailable = False
    retried = await world.container.send_queued_email()(delivery.id)
    assert retried is not None
    assert retried.status is DeliveryStatus.SENT
    assert retried.attempts == 2
    assert world.mailer.sent[0].message["Message-ID"] == delivery.message_id


async def test_a_delivery_for_an_export_that_expired_meanwhile_is_dead(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA, ready_at=NOW - TTL + timedelta(minutes=5)))
    world.clock.advance(timedelta(minutes=5))
    outcome = await world.container.send_queued_email()(delivery.id)
    assert outcome is not None
    assert outcome.status is DeliveryStatus.DEAD
    assert outcome.last_error == "the export is EXPIRED; its link would not work"
    assert world.mailer.sent == []


async def test_a_message_that_cannot_be_composed_is_dead_not_stuck(world: World) -> None:
    class Broken:
        def compose(self, *args: object) -> None:
            raise ValueError("template fault")

    delivery = await _queued(world, export(OLIVIA))
    with world.container.composer.override(providers.Object(Broken())):
        outcome = await world.container.send_queued_email()(delivery.id)
    assert outcome is not None
    assert outcome.status is DeliveryStatus.DEAD
    assert outcome.last_error == "the message cannot be composed: template fault"
    assert world.store.deliveries[delivery.id] == outcome
    assert world.mailer.sent == []


async def test_an_unknown_delivery_is_ignored(world: World) -> None:
    assert await world.container.send_queued_email()(uuid4()) is None
    assert world.mailer.sent == []
