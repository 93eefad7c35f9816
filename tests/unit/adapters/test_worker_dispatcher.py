"""The dispatcher: woken by a commit, polling otherwise, bounded, surviving failures, and
giving back what it holds when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

import pytest

from export_resend.adapters.worker import DeliveryDispatcher
from export_resend.application.outbox import ClaimedEmail
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.ports import Mailer, OutgoingEmail
from export_resend.domain.recipients import Recipients
from tests.conftest import World, make_world
from tests.factories import NOW, caller, export

OLIVIA = caller()


async def _queue(world: World, at: timedelta = timedelta(0)) -> Delivery:
    target = await world.add_export(export(OLIVIA))
    delivery = Delivery.queue(
        target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email), NOW + at, "example.com"
    )
    world.store.deliveries[delivery.id] = delivery
    return delivery


class GatedMailer(Mailer):
    """Accepts everyone, but only once ``gate`` is open; counts the sends in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.moved = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = 0

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]:
        self.started += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.moved.set()
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
            self.moved.set()
        return [RecipientResult(a, RecipientOutcome.ACCEPTED) for a in email.recipients]

    async def close(self) -> None:
        pass

    async def until_in_flight(self, count: int) -> None:
        while self.in_flight != count:
            self.moved.clear()
            await asyncio.wait_for(self.moved.wait(), 5)


def _gated_world(**settings: object) -> tuple[World, GatedMailer]:
    world = make_world(**settings)
    mailer = GatedMailer()
    world.container.mailer.override(mailer)
    return world, mailer


async def test_a_resend_is_sent_at_once_without_waiting_for_a_poll() -> None:
    world = make_world(dispatch_poll_interval=3600)
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    await asyncio.wait_for(dispatcher.idle(), 5)  # the first claim found nothing
    target = await world.add_export(export(OLIVIA))
    receipt = await world.container.resend_export_email()(
        OLIVIA, ResendExportEmailCommand(export_id=target.id)
    )
    await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    [sent] = world.mailer.sent
    assert sent.message["Message-ID"] == receipt.delivery.message_id


async def test_rows_queued_before_start_or_by_another_process_are_found(world: World) -> None:
    deliveries = [await _queue(world) for _ in range(3)]
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    assert {world.store.deliveries[d.id].status for d in deliveries} == {DeliveryStatus.SENT}


async def test_a_delivery_due_later_is_sent_when_it_comes_due(world: World) -> None:
    later = await _queue(world, timedelta(minutes=10))
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    await asyncio.wait_for(dispatcher.idle(), 5)
    assert world.store.deliveries[later.id].status is DeliveryStatus.QUEUED
    world.clock.advance(timedelta(minutes=10))
    await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    assert world.store.deliveries[later.id].status is DeliveryStatus.SENT


async def test_no_more_than_the_concurrency_is_sent_at_once() -> None:
    world, mailer = _gated_world(dispatch_concurrency=2)
    for _ in range(5):
        await _queue(world)
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    for _ in range(50):
        await asyncio.sleep(0)
    assert (mailer.in_flight, mailer.started) == (2, 2)
    mailer.gate.set()
    await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    assert (mailer.most_in_flight, mailer.started) == (2, 5)


async def test_stop_finishes_the_sends_in_flight_within_the_grace() -> None:
    world, mailer = _gated_world()
    held = [await _queue(world) for _ in range(2)]
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    await mailer.until_in_flight(2)
    stopping = asyncio.create_task(dispatcher.stop(grace=5))
    await asyncio.sleep(0.01)
    mailer.gate.set()
    await stopping
    assert {world.store.deliveries[d.id].status for d in held} == {DeliveryStatus.SENT}


async def test_stop_gives_back_what_it_could_not_finish() -> None:
    world, mailer = _gated_world()
    held = [await _queue(world) for _ in range(2)]
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    await mailer.until_in_flight(2)
    await dispatcher.stop(grace=0.01)
    back = [world.store.deliveries[d.id] for d in held]
    assert {(d.status, d.attempts, d.lease_id) for d in back} == {(DeliveryStatus.QUEUED, 0, None)}
    assert all(d.is_due(NOW) for d in back)


async def test_a_failure_to_send_is_logged_and_the_others_still_sent(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await _queue(world), await _queue(world, timedelta(seconds=1))
    world.clock.advance(timedelta(seconds=1))
    send = world.container.send_claimed_email()
    calls: list[object] = []

    async def exploding_once(claimed: object) -> Delivery:
        calls.append(claimed)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await send(claimed)  # type: ignore[arg-type]

    dispatcher = DeliveryDispatcher(
        claim=world.container.claim_due_emails(),
        send=exploding_once,  # type: ignore[arg-type]
        release=world.container.release_claimed_emails(),
        concurrency=1,
    )
    dispatcher.start()
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    assert f"delivery {first.id}: unexpected failure" in caplog.text
    assert world.store.deliveries[first.id].status is DeliveryStatus.SENDING  # until its lease ends
    assert world.store.deliveries[second.id].status is DeliveryStatus.SENT


async def test_a_failure_to_claim_is_logged_and_claiming_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    delivery = await _queue(world)
    claim = world.container.claim_due_emails()
    failures = [RuntimeError("database away")]

    async def flaky_claim(limit: int) -> object:
        if failures:
            raise failures.pop()
        return await claim(limit)

    dispatcher = DeliveryDispatcher(
        claim=flaky_claim,  # type: ignore[arg-type]
        send=world.container.send_claimed_email(),
        release=world.container.release_claimed_emails(),
        poll_interval=0.01,
    )
    dispatcher.start()
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    assert "claiming due deliveries failed" in caplog.text
    assert world.store.deliveries[delivery.id].status is DeliveryStatus.SENT


async def test_stop_during_a_claim_sends_or_gives_back_what_that_claim_took() -> None:
    world, _ = _gated_world()
    delivery = await _queue(world)
    claim = world.container.claim_due_emails()
    claimed_rows, proceed = asyncio.Event(), asyncio.Event()

    async def slow_claim(limit: int) -> list[ClaimedEmail]:
        claimed = await claim(limit)  # the rows are leased now
        claimed_rows.set()
        await proceed.wait()
        return claimed

    dispatcher = DeliveryDispatcher(
        claim=slow_claim,
        send=world.container.send_claimed_email(),
        release=world.container.release_claimed_emails(),
    )
    dispatcher.start()
    await claimed_rows.wait()
    assert world.store.deliveries[delivery.id].status is DeliveryStatus.SENDING
    stopping = asyncio.create_task(dispatcher.stop(grace=0.05))
    await asyncio.sleep(0.01)
    proceed.set()
    await stopping
    stored = world.store.deliveries[delivery.id]
    assert (stored.status, stored.attempts, stored.lease_id) == (DeliveryStatus.QUEUED, 0, None)
