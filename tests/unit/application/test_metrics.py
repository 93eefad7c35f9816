"""What the outbox, the generator and a scrape report, read back from the container's
Prometheus registry (the counts of one world only: every container owns its registry)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import TracebackType
from typing import Self

from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from export_resend.application.request_export import ExportCommand
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.ports import SendResult, UnitOfWork
from export_resend.domain.recipients import Recipients
from tests.conftest import World, make_world
from tests.factories import NOW, caller, export

OLIVIA = caller("olivia", "acme")


def _value(world: World, name: str, **labels: str) -> float:
    value = world.container.metrics().registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def _queue(world: World, cc: tuple[str, ...] = ()) -> Delivery:
    target = await world.add_export(export(OLIVIA))
    delivery = Delivery.queue(
        target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email, cc), NOW, "example.com"
    )
    world.store.deliveries[delivery.id] = delivery
    return delivery


async def _deliver_due(world: World) -> list[Delivery]:
    send = world.container.send_claimed_email()
    return [await send(c) for c in await world.container.claim_due_emails()(10)]


def test_an_attempt_is_as_bad_as_its_worst_answer() -> None:
    def answers(*outcomes: RecipientOutcome) -> list[RecipientResult]:
        return [RecipientResult(f"{i}@x.io", o) for i, o in enumerate(outcomes)]

    accepted, later, never = (
        RecipientOutcome.ACCEPTED,
        RecipientOutcome.REFUSED_TRANSIENTLY,
        RecipientOutcome.REFUSED_PERMANENTLY,
    )
    assert SendResult.of(answers(accepted, accepted)) is SendResult.ACCEPTED
    assert SendResult.of(answers(accepted, never)) is SendResult.PERMANENT
    assert SendResult.of(answers(never, later, accepted)) is SendResult.TRANSIENT


async def test_attempts_recipients_and_outcomes_are_counted_by_result(world: World) -> None:
    await _queue(world, ("busy@x.io", "gone@x.io"))
    world.mailer.refuse["busy@x.io"] = RecipientResult(
        "busy@x.io", RecipientOutcome.REFUSED_TRANSIENTLY, 450, "busy"
    )
    world.mailer.refuse["gone@x.io"] = RecipientResult(
        "gone@x.io", RecipientOutcome.REFUSED_PERMANENTLY, 550, "no such user"
    )
    [first] = await _deliver_due(world)
    world.mailer.unavailable = True
    world.clock.set(first.next_attempt_at)
    [second] = await _deliver_due(world)
    world.mailer.unavailable = False
    del world.mailer.refuse["busy@x.io"]
    world.clock.set(second.next_attempt_at)
    await _deliver_due(world)

    attempts = "export_resend_send_attempts_total"
    assert _value(world, attempts, result="transient") == 1
    assert _value(world, attempts, result="unavailable") == 1
    assert _value(world, attempts, result="accepted") == 1
    assert _value(world, attempts, result="permanent") == 0
    recipients = "export_resend_send_recipients_total"
    assert _value(world, recipients, result="accepted") == 2  # olivia, then busy@ at last
    assert _value(world, recipients, result="refused_transiently") == 1
    assert _value(world, recipients, result="refused_permanently") == 1
    outcomes = "export_resend_delivery_outcomes_total"
    assert _value(world, outcomes, status="QUEUED") == 2
    assert _value(world, outcomes, status="SENT") == 1
    assert _value(world, "export_resend_send_duration_seconds_count", result="accepted") == 1


async def test_a_delivery_that_cannot_be_sent_is_an_outcome_but_no_attempt(world: World) -> None:
    delivery = await _queue(world)
    world.store.exports.pop(delivery.export_id)
    [dead] = await _deliver_due(world)
    assert _value(world, "export_resend_delivery_outcomes_total", status="DEAD") == 1
    assert (
        sum(_value(world, "export_resend_send_attempts_total", result=r.value) for r in SendResult)
        == 0
    )
    assert dead.attempts == 0


async def test_generations_are_counted_by_outcome_with_their_duration() -> None:
    world = make_world(demo_rows=50)
    command = ExportCommand()
    await world.container.request_export()(OLIVIA, ExportType.SUPPLIER_PAYOUTS, command)
    generate = world.container.generate_claimed_export()
    [claimed] = await world.container.claim_pending_exports()(10)
    ready = await generate(claimed)
    assert ready is not None
    assert ready.status is ExportStatus.READY
    assert _value(world, "export_resend_generations_total", status="READY") == 1
    assert _value(world, "export_resend_generations_total", status="FAILED") == 0
    assert _value(world, "export_resend_generation_duration_seconds_count") == 1


def _families(page: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(page.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_a_scrape_reads_the_queues_depth_due_and_oldest_age(world: World) -> None:
    await _queue(world)
    world.clock.advance(timedelta(minutes=5))
    await _queue(world)  # queued at NOW too: the factory's moment
    world.clock.advance(timedelta(minutes=5))
    await world.container.request_export()(OLIVIA, ExportType.SUPPLIER_PAYOUTS, ExportCommand())

    page = await world.container.scrape_metrics()()

    samples = _families(page.body)
    outbox, generation = (("queue", "outbox"),), (("queue", "generation"),)
    assert samples["export_resend_queue_depth"] == {outbox: 2.0, generation: 1.0}
    assert samples["export_resend_queue_due"] == {outbox: 2.0, generation: 1.0}
    assert samples["export_resend_queue_oldest_age_seconds"] == {outbox: 600.0, generation: 0.0}
    assert page.media_type.startswith("text/plain")


class _Hanging(UnitOfWork):
    """A unit of work whose database never answers."""

    async def __aenter__(self) -> Self:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass

    async def commit(self) -> None:
        pass


async def test_a_scrape_answers_in_time_without_queues_when_the_database_hangs() -> None:
    world = make_world(readiness_timeout=0.05)
    world.container.unit_of_work.override(providers.Factory(_Hanging))

    page = await asyncio.wait_for(world.container.scrape_metrics()(), 2)

    samples = _families(page.body)
    assert "export_resend_queue_depth" not in samples
    assert samples["export_resend_queue_read_failures_total"] == {(): 1.0}
    assert samples["export_resend_send_attempts_total"]  # the counters are still there
