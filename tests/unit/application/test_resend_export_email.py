"""The resend use case: the rule, the outbox record, and what reaches the mailer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID, uuid4

import pytest

from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.domain.caller import Caller
from export_resend.domain.delivery import DeliveryKind, DeliveryStatus
from export_resend.domain.errors import ExportForbidden, ExportNotFound, ExportNotReady
from export_resend.domain.export import ExportStatus
from tests.conftest import World
from tests.factories import NOW, caller, export

OLIVIA = caller("olivia", "acme")


def command(export_id: UUID, cc: Sequence[str] | None = None) -> ResendExportEmailCommand:
    return ResendExportEmailCommand(export_id=export_id, cc=None if cc is None else tuple(cc))


async def test_resend_queues_a_delivery_in_the_outbox(world: World) -> None:
    ready = await world.add_export(export(OLIVIA, cc=("finance@acme.example.com",)))
    receipt = await world.container.resend_export_email()(OLIVIA, command(ready.id))
    [stored] = world.deliveries(ready.id)
    assert stored == receipt.delivery
    assert stored.kind is DeliveryKind.RESEND
    assert stored.status is DeliveryStatus.QUEUED
    assert stored.queued_at == NOW
    assert stored.recipients.to == OLIVIA.email
    assert stored.recipients.cc == ("finance@acme.example.com",)
    assert stored.message_id.endswith("@localhost.localdomain>")


async def test_resend_never_sends_inside_the_call(world: World) -> None:
    ready = await world.add_export(export(OLIVIA))
    await world.container.resend_export_email()(OLIVIA, command(ready.id))
    assert world.mailer.sent == []


async def test_the_dispatcher_sends_what_was_queued(world: World) -> None:
    ready = await world.add_export(export(OLIVIA))
    dispatcher = world.container.dispatcher()
    dispatcher.start()
    receipt = await world.container.resend_export_email()(OLIVIA, command(ready.id))
    await asyncio.wait_for(dispatcher.idle(), 5)
    await dispatcher.stop()
    [sent] = world.mailer.sent
    assert sent.message["Message-ID"] == receipt.delivery.message_id
    assert world.deliveries(ready.id)[0].status is DeliveryStatus.SENT


async def test_two_resends_record_two_deliveries_with_their_own_message_ids(
    world: World,
) -> None:
    ready = await world.add_export(export(OLIVIA))
    resend = world.container.resend_export_email()
    first, second = await asyncio.gather(
        resend(OLIVIA, command(ready.id)), resend(OLIVIA, command(ready.id))
    )
    assert len(world.deliveries(ready.id)) == 2
    assert first.delivery.message_id != second.delivery.message_id


@pytest.mark.parametrize(
    ("who", "status", "error"),
    [
        (caller("olivia", "globex"), ExportStatus.READY, ExportNotFound),
        (caller("oscar", "acme"), ExportStatus.READY, ExportForbidden),
        (OLIVIA, ExportStatus.PENDING, ExportNotReady),
        (OLIVIA, ExportStatus.FAILED, ExportNotReady),
        (OLIVIA, ExportStatus.EXPIRED, ExportNotReady),
    ],
)
async def test_a_refused_resend_queues_nothing(
    world: World, who: Caller, status: ExportStatus, error: type[Exception]
) -> None:
    target = await world.add_export(export(OLIVIA, status))
    with pytest.raises(error):
        await world.container.resend_export_email()(who, command(target.id))
    assert world.store.deliveries == {}


async def test_an_unknown_export_is_not_found(world: World) -> None:
    with pytest.raises(ExportNotFound):
        await world.container.resend_export_email()(OLIVIA, command(uuid4()))


async def test_warnings_name_the_requested_entries(world: World) -> None:
    ready = await world.add_export(export(OLIVIA))
    receipt = await world.container.resend_export_email()(
        OLIVIA, command(ready.id, ["a@x.io", "A@X.IO", OLIVIA.email.upper()])
    )
    assert receipt.recipients.cc == ("a@x.io",)
    assert [(w.code, w.field) for w in receipt.warnings] == [
        ("CC_DUPLICATE_REMOVED", "cc[1]"),
        ("CC_PRIMARY_RECIPIENT_REMOVED", "cc[2]"),
    ]


async def test_warnings_about_the_original_list_say_so(world: World) -> None:
    ready = await world.add_export(export(OLIVIA, cc=("a@x.io", "A@x.io")))
    receipt = await world.container.resend_export_email()(OLIVIA, command(ready.id))
    assert [(w.code, w.field) for w in receipt.warnings] == [
        ("CC_DUPLICATE_REMOVED", "originalCc[1]")
    ]
