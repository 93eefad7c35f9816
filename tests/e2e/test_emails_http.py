"""GET /v1/exports/{exportId}/emails: the delivery history, owner only, in any status."""

from __future__ import annotations

from datetime import timedelta

import pytest

from export_resend.domain.delivery import RecipientOutcome, RecipientResult
from export_resend.domain.export import ExportStatus
from tests.e2e.conftest import OLIVIA, Api
from tests.e2e.test_resend_http import _problem
from tests.factories import NOW, TTL, export


def _emails(export_id: object) -> str:
    return f"/v1/exports/{export_id}/emails"


async def test_every_email_is_listed_oldest_first_with_its_delivery(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA, cc=("gone@x.io",)))
    api.world.mailer.refuse["gone@x.io"] = RecipientResult(
        "gone@x.io", RecipientOutcome.REFUSED_PERMANENTLY, 550, "5.1.1 no such user"
    )
    resend = f"/v1/exports/{target.id}/resend-email"
    first = await api.client.post(resend, headers=api.headers(OLIVIA))
    await api.world.container.dispatcher().idle()
    api.world.clock.advance(timedelta(minutes=1))
    api.world.mailer.unavailable = True
    second = await api.client.post(resend, headers=api.headers(OLIVIA), json={"cc": []})
    await api.world.container.dispatcher().idle()

    response = await api.client.get(_emails(target.id), headers=api.headers(OLIVIA))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    [sent, retrying] = api.world.deliveries(target.id)
    assert response.json() == {
        "exportId": str(target.id),
        "emails": [
            {
                "deliveryId": first.json()["delivery"]["id"],
                "kind": "RESEND",
                "to": OLIVIA.email,
                "cc": ["gone@x.io"],
                "status": "SENT",
                "attempts": 1,
                "results": [
                    {"address": OLIVIA.email, "outcome": "ACCEPTED", "code": None, "text": None},
                    {
                        "address": "gone@x.io",
                        "outcome": "REFUSED_PERMANENTLY",
                        "code": 550,
                        "text": "5.1.1 no such user",
                    },
                ],
                "messageId": sent.message_id,
                "queuedAt": "2026-01-15T09:30:00Z",
                "lastAttemptAt": "2026-01-15T09:30:00Z",
                "nextAttemptAt": None,
                "sentAt": "2026-01-15T09:30:00Z",
                "lastError": None,
            },
            {
                "deliveryId": second.json()["delivery"]["id"],
                "kind": "RESEND",
                "to": OLIVIA.email,
                "cc": [],
                "status": "QUEUED",
                "attempts": 1,
                "results": [],
                "messageId": retrying.message_id,
                "queuedAt": "2026-01-15T09:31:00Z",
                "lastAttemptAt": "2026-01-15T09:31:00Z",
                "nextAttemptAt": retrying.next_attempt_at.isoformat().replace("+00:00", "Z"),
                "sentAt": None,
                "lastError": "the in-memory relay is set to be unavailable",
            },
        ],
    }


@pytest.mark.parametrize(
    "status", [ExportStatus.PENDING, ExportStatus.FAILED, ExportStatus.EXPIRED]
)
async def test_an_export_that_is_not_ready_still_has_its_history(
    api: Api, status: ExportStatus
) -> None:
    target = await api.world.add_export(export(OLIVIA, status))
    response = await api.client.get(_emails(target.id), headers=api.headers(OLIVIA))
    assert response.status_code == 200
    assert response.json() == {"exportId": str(target.id), "emails": []}


async def test_an_export_past_its_expiry_still_has_its_history(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA, ready_at=NOW - TTL))
    response = await api.client.get(_emails(target.id), headers=api.headers(OLIVIA))
    assert response.status_code == 200


async def test_an_id_that_is_not_a_uuid_is_a_400_and_an_unknown_one_a_404(api: Api) -> None:
    """Credentials, tenants and owners: tests/e2e/test_security_matrix.py."""
    _problem(
        await api.client.get(_emails("not-a-uuid"), headers=api.headers(OLIVIA)),
        400,
        "VALIDATION_FAILED",
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    _problem(
        await api.client.get(_emails(unknown), headers=api.headers(OLIVIA)), 404, "EXPORT_NOT_FOUND"
    )
