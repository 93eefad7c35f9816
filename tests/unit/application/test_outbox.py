"""Claiming, sending and releasing outbox rows: SENT, retried later, DEAD, lease kept."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import providers

from export_resend.adapters.memory import InMemoryMailer
from export_resend.application.outbox import ClaimedEmail
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import Export
from export_resend.domain.ports import OutgoingEmail
from export_resend.domain.recipients import Recipients
from tests.conftest import World, make_world
from tests.factories import NOW, TTL, caller, export

OLIVIA = caller("olivia", "acme")
LEASE = timedelta(minutes=2)  # the settings' default


async def _queued(world: World, target: Export, cc: tuple[str, ...] = ()) -> Delivery:
    await world.add_export(target)
    delivery = Delivery.queue(
        target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email, cc), NOW, "example.com"
    )
    world.store.deliveries[delivery.id] = delivery
    return delivery


async def _claim(world: World) -> list[ClaimedEmail]:
    return await world.container.claim_due_emails()(10)


async def _deliver_due(world: World) -> list[Delivery]:
    send = world.container.send_claimed_email()
    return [await send(claimed) for claimed in await _claim(world)]


async def test_a_claim_holds_the_due_rows_with_their_exports(world: World) -> None:
    target = export(OLIVIA)
    delivery = await _queued(world, target)
    [claimed] = await _claim(world)
    assert claimed.export == target
    assert claimed.delivery.status is DeliveryStatus.SENDING
    assert world.store.deliveries[delivery.id] == claimed.delivery
    assert await _claim(world) == []


async def test_a_queued_delivery_is_sent_once_and_recorded_sent(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA), ("a@x.io",))
    [outcome] = await _deliver_due(world)
    assert outcome.status is DeliveryStatus.SENT
    assert (outcome.attempts, outcome.sent_at, outcome.lease_id) == (1, NOW, None)
    assert [r.outcome for r in outcome.results] == [RecipientOutcome.ACCEPTED] * 2
    assert world.store.deliveries[delivery.id] == outcome
    assert await _deliver_due(world) == []
    [sent] = world.mailer.sent
    assert sent.recipients == (OLIVIA.email, "a@x.io")
    assert sent.message["Message-ID"] == delivery.message_id


async def test_a_permanent_refusal_is_kept_and_the_rest_delivered(world: World) -> None:
    await _queued(world, export(OLIVIA), ("gone@x.io",))
    refusal = RecipientResult("gone@x.io", RecipientOutcome.REFUSED_PERMANENTLY, 550, "no user")
    world.mailer.refuse["gone@x.io"] = refusal
    [outcome] = await _deliver_due(world)
    assert outcome.status is DeliveryStatus.SENT
    assert outcome.results == (RecipientResult(OLIVIA.email, RecipientOutcome.ACCEPTED), refusal)
    world.clock.advance(timedelta(days=1))
    assert await _deliver_due(world) == []


async def test_a_transient_refusal_is_retried_later_to_that_address_alone(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA), ("busy@x.io", "fine@x.io"))
    world.mailer.refuse["busy@x.io"] = RecipientResult(
        "busy@x.io", RecipientOutcome.REFUSED_TRANSIENTLY, 450, "mailbox busy"
    )
    [first] = await _deliver_due(world)
    assert first.status is DeliveryStatus.QUEUED
    assert NOW + timedelta(seconds=15) <= first.next_attempt_at <= NOW + timedelta(seconds=30)
    assert await _deliver_due(world) == []  # not due yet
    del world.mailer.refuse["busy@x.io"]
    world.clock.set(first.next_attempt_at)
    [second] = await _deliver_due(world)
    assert second.status is DeliveryStatus.SENT
    assert [r.outcome for r in second.results] == [RecipientOutcome.ACCEPTED] * 3
    assert [e.recipients for e in world.mailer.sent] == [  # the envelope of each attempt
        (OLIVIA.email, "busy@x.io", "fine@x.io"),
        ("busy@x.io",),
    ]
    assert {e.message["Message-ID"] for e in world.mailer.sent} == {delivery.message_id}


async def test_an_unavailable_relay_leaves_it_queued_until_its_next_attempt(world: World) -> None:
    delivery = await _queued(world, export(OLIVIA))
    world.mailer.unavailable = True
    [outcome] = await _deliver_due(world)
    assert outcome.status is DeliveryStatus.QUEUED
    assert outcome.attempts == 1
    assert outcome.last_error == "the in-memory relay is set to be unavailable"
    world.mailer.unavailable = False
    world.clock.set(outcome.next_attempt_at)
    [retried] = await _deliver_due(world)
    assert (retried.status, retried.attempts) == (DeliveryStatus.SENT, 2)
    assert world.mailer.sent[0].message["Message-ID"] == delivery.message_id


async def test_a_delivery_that_runs_out_of_attempts_is_dead() -> None:
    world = make_world(delivery_max_attempts=2)
    await _queued(world, export(OLIVIA))
    world.mailer.unavailable = True
    [first] = await _deliver_due(world)
    world.clock.set(first.next_attempt_at)
    [second] = await _deliver_due(world)
    assert second.status is DeliveryStatus.DEAD
    assert second.last_error == (
        "gave up after 2 attempts: the in-memory relay is set to be unavailable"
    )
    world.clock.advance(timedelta(days=1))
    assert await _deliver_due(world) == []


async def test_a_delivery_for_an_export_that_expired_meanwhile_is_dead(world: World) -> None:
    await _queued(world, export(OLIVIA, ready_at=NOW - TTL + timedelta(minutes=5)))
    world.clock.advance(timedelta(minutes=5))
    [outcome] = await _deliver_due(world)
    assert outcome.status is DeliveryStatus.DEAD
    assert outcome.last_error == "the export is EXPIRED; its link would not work"
    assert world.mailer.sent == []


async def test_a_message_that_cannot_be_composed_is_dead_not_stuck(world: World) -> None:
    class Broken:
        def compose(self, *args: object) -> None:
            raise ValueError("template fault")

    delivery = await _queued(world, export(OLIVIA))
    with world.container.composer.override(providers.Object(Broken())):
        world.container.send_claimed_email.reset()
        [outcome] = await _deliver_due(world)
    assert outcome.status is DeliveryStatus.DEAD
    assert outcome.last_error == "the message cannot be composed: ValueError"
    assert world.store.deliveries[delivery.id] == outcome
    assert world.mailer.sent == []


async def test_an_outcome_is_not_recorded_once_another_dispatcher_took_the_lease(
    world: World,
) -> None:
    delivery = await _queued(world, export(OLIVIA))
    [stalled] = await _claim(world)
    world.clock.advance(LEASE)
    [taken] = await _claim(world)
    await world.container.send_claimed_email()(stalled)
    assert world.store.deliveries[delivery.id] == taken.delivery
    await world.container.send_claimed_email()(taken)
    assert world.store.deliveries[delivery.id].status is DeliveryStatus.SENT


async def test_a_release_gives_back_what_is_still_held(world: World) -> None:
    first = await _queued(world, export(OLIVIA))
    second = await _queued(world, export(OLIVIA))
    claimed = await _claim(world)
    release = world.container.release_claimed_emails()
    world.clock.advance(timedelta(seconds=5))
    world.store.deliveries[second.id] = second.dead("settled elsewhere", NOW)
    assert await release([c.delivery for c in claimed]) == 1
    back = world.store.deliveries[first.id]
    assert (back.status, back.attempts, back.next_attempt_at) == (
        DeliveryStatus.QUEUED,
        0,
        NOW + timedelta(seconds=5),
    )
    assert world.store.deliveries[second.id].status is DeliveryStatus.DEAD


async def test_a_mailer_that_crashes_counts_an_attempt_so_that_it_ends() -> None:
    world = make_world(delivery_max_attempts=1)
    delivery = await _queued(world, export(OLIVIA))

    class Crashing(InMemoryMailer):
        async def send(self, email: OutgoingEmail) -> list[RecipientResult]:
            raise KeyError("a bug in the mailer")

    world.container.mailer.override(Crashing())
    [outcome] = await _deliver_due(world)
    assert (outcome.status, outcome.attempts) == (DeliveryStatus.DEAD, 1)
    assert outcome.last_error == "gave up after 1 attempts: the mailer failed: KeyError"
    assert world.store.deliveries[delivery.id] == outcome
