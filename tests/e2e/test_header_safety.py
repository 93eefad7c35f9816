"""For any CC list: accepted, the message has exactly the expected headers; refused, nothing
is queued or sent. Driven through the HTTP app, where a refused input could otherwise leak."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from export_resend.application.addresses import bare_address
from export_resend.main import create_app
from export_resend.testing.strategies import addresses, case_variants
from tests.conftest import make_world
from tests.factories import EMAIL_HEADERS, caller, export

OLIVIA = caller("olivia", "acme")
EXPECTED_HEADERS = set(EMAIL_HEADERS)

_HOSTILE = st.sampled_from(
    [
        "Boss <boss@example.com>",
        "boss@example.com\r\nBcc: victim@example.com",
        "victim@example.com\nBcc: x@example.com",
        "=?utf-8?b?Ym9zcw==?=@example.com",
        "x@example.com\0",
        "a@x.io, b@x.io",
        "not an address",
        "a@b@example.com",
    ]
)
_CC_INPUT = st.lists(
    st.one_of(
        addresses(),
        addresses().flatmap(case_variants),
        st.just(OLIVIA.email).flatmap(case_variants),
        _HOSTILE,
        st.text(max_size=20),
    ),
    max_size=24,
)


def _expected_cc(cc: list[str]) -> list[str]:
    """What an accepted CC list must become (SPEC §2): each address in its normal form, the
    first of each compared case-insensitively, the caller's own left out."""
    seen, kept = {OLIVIA.email.casefold()}, []
    for address in map(bare_address, cc):
        if address.casefold() not in seen:
            seen.add(address.casefold())
            kept.append(address)
    return kept


async def _resend(cc: list[str]) -> tuple[httpx.Response, Any]:
    world = make_world()
    key = await world.add_caller(OLIVIA)
    ready = await world.add_export(export(OLIVIA, cc=("finance@acme.example.com",)))
    app = create_app(container=world.container)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        response = await client.post(
            f"/v1/exports/{ready.id}/resend-email",
            headers={"dj-api-key": key, "dj-client": "OPERATOR"},
            json={"cc": cc},
        )
        await world.container.dispatcher().idle()
    return response, world


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(cc=_CC_INPUT)
def test_accepted_cc_gives_exactly_the_expected_headers_and_refused_cc_sends_nothing(
    cc: list[str],
) -> None:
    response, world = asyncio.run(_resend(cc))
    if response.status_code == 400:
        event("refused")
        assert response.json()["code"] == "VALIDATION_FAILED"
        assert world.store.deliveries == {}
        assert world.mailer.sent == []
        return
    event("accepted")
    assert response.status_code == 200, response.text
    recipients = response.json()["recipients"]
    [sent] = world.mailer.sent
    expected = EXPECTED_HEADERS - ({"Cc"} if not recipients["cc"] else set())
    assert set(sent.message.keys()) == expected
    assert all(len(sent.message.get_all(name) or []) == 1 for name in expected)
    assert recipients["cc"] == _expected_cc(cc)  # nobody the caller did not ask for
    assert sent.message["To"] == OLIVIA.email == recipients["to"]
    assert sent.recipients == (OLIVIA.email, *recipients["cc"])
    if recipients["cc"]:
        assert sent.message["Cc"] == ", ".join(recipients["cc"])
    assert not any("Bcc" in part for part in sent.message.walk())
    assert all("\r" not in v and "\n" not in v for v in sent.message.values())
