"""Idempotency-Key on the POST routes, and the resend limit, through HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from datetime import timedelta
from uuid import uuid4

import httpx
import pytest

from export_resend.adapters.http.idempotency import IdempotentRequests
from export_resend.application.authenticate_caller import hash_api_key
from export_resend.application.idempotency import Claim, fingerprint
from export_resend.domain.export import ExportStatus
from export_resend.domain.idempotency import IdempotencyKey
from export_resend.main import create_app
from tests.e2e.asgi import call
from tests.e2e.conftest import OLIVIA, OSCAR, Api
from tests.factories import export

REQUEST_ROUTES = [
    "/v1/payments/transactions/export",
    "/v1/payments/supplier-payouts/export",
    "/v1/payments/funding-transfers/export",
    "/v1/payments/marketplace-payouts/export",
]


def _resend(export_id: object) -> str:
    return f"/v1/exports/{export_id}/resend-email"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid4()}"}


async def _sent(api: Api) -> int:
    await api.world.container.dispatcher().idle()
    return len(api.world.mailer.sent)


async def test_the_same_resend_twice_with_one_key_sends_one_email(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    headers = api.headers(OLIVIA, **_key())
    body = {"cc": ["finance@acme.example.com"]}

    first = await api.client.post(_resend(target.id), headers=headers, json=body)
    sent_after_first = await _sent(api)
    api.world.clock.advance(timedelta(minutes=5))
    # the same body, spelled differently: other spacing, the same JSON
    second = await api.client.post(
        _resend(target.id),
        headers={**headers, "content-type": "application/json"},
        content=b'{ "cc" : [ "finance@acme.example.com" ] }',
    )

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert second.content == first.content
    assert sent_after_first == 1
    assert await _sent(api) == 1
    assert len(api.world.deliveries(target.id)) == 1


@pytest.mark.parametrize("route", [*REQUEST_ROUTES, "/v1/exports/{id}/resend-email"])
async def test_a_replay_answers_the_first_answers_bytes_warnings_and_location_too(
    api: Api, route: str
) -> None:
    target = await api.world.add_export(export(OLIVIA))
    headers = {**api.headers(OLIVIA, **_key()), "content-type": "application/json"}
    body = b'{"to": "x@evil.example", "cc": ["a@x.io", "A@x.io"], "bcc": []}'
    url = route.format(id=target.id)

    first = await api.client.post(url, headers=headers, content=body)
    api.world.clock.advance(timedelta(hours=1))
    second = await api.client.post(url, headers=headers, content=body)

    assert first.status_code in (200, 202)
    assert second.status_code == first.status_code
    assert second.content == first.content
    assert [w["code"] for w in first.json()["warnings"]] == [
        "FIELD_IGNORED",
        "FIELD_IGNORED",
        "CC_DUPLICATE_REMOVED",
    ]
    assert second.headers.get("Location") == first.headers.get("Location")
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("route", REQUEST_ROUTES)
async def test_an_export_request_retried_with_its_key_is_one_export(api: Api, route: str) -> None:
    headers = api.headers(OLIVIA, **_key())
    first = await api.client.post(route, headers=headers, json={"cc": ["a@acme.example.com"]})
    second = await api.client.post(route, headers=headers, json={"cc": ["a@acme.example.com"]})

    assert first.status_code == second.status_code == 202
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert len(api.world.store.exports) == 1


async def test_a_key_reused_with_another_body_is_422_and_does_nothing(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    headers = api.headers(OLIVIA, **_key())
    await api.client.post(_resend(target.id), headers=headers, json={"cc": []})

    reused = await api.client.post(_resend(target.id), headers=headers, json={"cc": ["b@x.io"]})

    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(api.world.deliveries(target.id)) == 1


async def test_a_key_is_scoped_to_the_route_and_the_api_key(api: Api) -> None:
    mine = await api.world.add_export(export(OLIVIA))
    other = await api.world.add_export(export(OLIVIA))
    oscars = await api.world.add_export(export(OSCAR))
    key = _key()

    answers = [
        await api.client.post(_resend(mine.id), headers=api.headers(OLIVIA, **key)),
        await api.client.post(_resend(other.id), headers=api.headers(OLIVIA, **key)),
        await api.client.post(_resend(oscars.id), headers=api.headers(OSCAR, **key)),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert not any("Idempotent-Replayed" in a.headers for a in answers)
    assert await _sent(api) == 3


async def test_one_key_from_two_api_keys_on_one_route_is_two_keys(api: Api) -> None:
    """The test above changes the route with the API key; this one keeps the route, so it
    fails if the API key is left out of the scope: Oscar would be answered Olivia's
    stored response (her export, her recipients)."""
    mine = await api.world.add_export(export(OLIVIA))
    key = _key()
    body = {"cc": ["a@acme.example.com"]}

    olivias = await api.client.post(
        REQUEST_ROUTES[0], headers=api.headers(OLIVIA, **key), json=body
    )
    oscars = await api.client.post(REQUEST_ROUTES[0], headers=api.headers(OSCAR, **key), json=body)
    resent = await api.client.post(_resend(mine.id), headers=api.headers(OLIVIA, **key))
    refused = await api.client.post(_resend(mine.id), headers=api.headers(OSCAR, **key))

    assert [olivias.status_code, oscars.status_code] == [202, 202]
    assert "Idempotent-Replayed" not in oscars.headers
    assert oscars.json()["exportId"] != olivias.json()["exportId"]
    assert resent.status_code == 200
    assert refused.status_code == 403
    assert refused.json()["code"] == "EXPORT_FORBIDDEN"
    assert len(api.world.deliveries(mine.id)) == 1


async def test_a_request_still_in_flight_is_409_with_retry_after(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    key = _key()
    scope = hash_api_key(api.headers(OLIVIA)["dj-api-key"])
    begin = api.world.container.begin_idempotent_request()
    held = await begin(
        IdempotencyKey(scope, f"POST {_resend(target.id)}", key["Idempotency-Key"]),
        fingerprint({}),  # the same (empty) body as the retry below
    )
    assert isinstance(held, Claim)
    api.world.clock.advance(timedelta(seconds=20))

    busy = await api.client.post(_resend(target.id), headers=api.headers(OLIVIA, **key))

    assert busy.status_code == 409
    assert busy.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert busy.headers["Retry-After"] == "40"  # the default lease is 60 s
    assert api.world.deliveries(target.id) == []


async def test_a_key_held_by_a_request_that_died_is_taken_over_after_its_lease(
    api: Api,
) -> None:
    target = await api.world.add_export(export(OLIVIA))
    key = _key()
    scope = hash_api_key(api.headers(OLIVIA)["dj-api-key"])
    begin = api.world.container.begin_idempotent_request()
    idempotency_key = IdempotencyKey(scope, f"POST {_resend(target.id)}", key["Idempotency-Key"])
    await begin(idempotency_key, fingerprint({}))
    api.world.clock.advance(timedelta(seconds=61))

    retried = await api.client.post(_resend(target.id), headers=api.headers(OLIVIA, **key))

    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert len(api.world.deliveries(target.id)) == 1


async def test_an_error_is_not_stored_so_the_same_key_works_once_the_cause_is_gone(
    api: Api,
) -> None:
    target = await api.world.add_export(export(OLIVIA, status=ExportStatus.PENDING))
    headers = api.headers(OLIVIA, **_key())

    early = await api.client.post(_resend(target.id), headers=headers)
    api.world.store.exports[target.id] = dataclasses.replace(export(OLIVIA), id=target.id)
    later = await api.client.post(_resend(target.id), headers=headers)

    assert early.status_code == 409
    assert early.json()["code"] == "EXPORT_NOT_READY"
    assert later.status_code == 200
    assert "Idempotent-Replayed" not in later.headers
    assert api.world.store.idempotency  # the success is stored


async def test_a_replay_is_answered_for_24_hours_and_then_the_key_is_forgotten(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    headers = api.headers(OLIVIA, **_key())
    await api.client.post(_resend(target.id), headers=headers)

    api.world.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    replay = await api.client.post(_resend(target.id), headers=headers)
    api.world.clock.advance(timedelta(seconds=1))
    fresh = await api.client.post(_resend(target.id), headers=headers)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert fresh.status_code == 200
    assert "Idempotent-Replayed" not in fresh.headers
    assert len(api.world.deliveries(target.id)) == 2


async def test_the_sweep_purges_keys_past_retention(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    await api.client.post(_resend(target.id), headers=api.headers(OLIVIA, **_key()))
    purge = api.world.container.purge_idempotency_keys()

    assert await purge() == 0
    api.world.clock.advance(timedelta(hours=24))
    assert await purge() == 1
    assert api.world.store.idempotency == {}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "F-E-001"),
        ("k" * 256, "F-E-010"),
        ("clé", "F-E-012"),
        ("tab\there", "F-E-012"),
        ("\x7f", "F-E-012"),
    ],
)
async def test_a_malformed_key_is_400_naming_the_header(api: Api, value: str, code: str) -> None:
    target = await api.world.add_export(export(OLIVIA))
    response = await api.client.post(
        _resend(target.id),
        headers=[
            *((name.encode(), text.encode()) for name, text in api.headers(OLIVIA).items()),
            (b"Idempotency-Key", value.encode("utf-8")),
        ],
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == (code, "Idempotency-Key")
    assert api.world.deliveries(target.id) == []


async def test_a_key_of_255_printable_characters_is_accepted(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    key = "".join(chr(32 + i % 95) for i in range(255))
    response = await api.client.post(
        _resend(target.id), headers=api.headers(OLIVIA, **{"Idempotency-Key": key})
    )
    assert response.status_code == 200


async def test_a_key_given_twice_is_400(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    response = await api.client.post(
        _resend(target.id),
        headers=[*api.headers(OLIVIA).items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_many_retries_at_once_send_one_email(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    headers = api.headers(OLIVIA, **_key())
    answers = await asyncio.gather(
        *(api.client.post(_resend(target.id), headers=headers) for _ in range(10))
    )
    assert {a.status_code for a in answers} <= {200, 409}
    assert (
        sum("Idempotent-Replayed" not in a.headers and a.status_code == 200 for a in answers) == 1
    )
    assert await _sent(api) == 1


async def test_the_sixth_resend_within_the_hour_is_429_with_retry_after(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    answers: list[httpx.Response] = []
    for _ in range(6):
        answers.append(await api.client.post(_resend(target.id), headers=api.headers(OLIVIA)))
        api.world.clock.advance(timedelta(minutes=10))

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    limited = answers[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "RATE_LIMITED"
    # the first resend (at 0 min) stops counting at 60 min; the sixth came at 50 min
    assert limited.headers["Retry-After"] == "600"
    assert limited.json()["retryAfter"] == 600
    assert len(api.world.deliveries(target.id)) == 5

    api.world.clock.advance(timedelta(seconds=600))
    assert (
        await api.client.post(_resend(target.id), headers=api.headers(OLIVIA))
    ).status_code == 200


async def test_the_limit_counts_per_export(api: Api) -> None:
    first = await api.world.add_export(export(OLIVIA))
    second = await api.world.add_export(export(OLIVIA))
    for _ in range(5):
        await api.client.post(_resend(first.id), headers=api.headers(OLIVIA))
    assert (
        await api.client.post(_resend(first.id), headers=api.headers(OLIVIA))
    ).status_code == 429
    assert (
        await api.client.post(_resend(second.id), headers=api.headers(OLIVIA))
    ).status_code == 200


async def test_a_rate_limited_resend_is_not_stored_under_its_key(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    for _ in range(5):
        await api.client.post(_resend(target.id), headers=api.headers(OLIVIA))
    headers = api.headers(OLIVIA, **_key())

    limited = await api.client.post(_resend(target.id), headers=headers)
    api.world.clock.advance(timedelta(hours=1))
    retried = await api.client.post(_resend(target.id), headers=headers)

    assert limited.status_code == 429
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers


@pytest.mark.parametrize("route", [*REQUEST_ROUTES, "/v1/exports/{id}/resend-email"])
async def test_a_keyed_request_with_a_query_string_that_is_not_utf8_is_answered(
    api: Api, route: str
) -> None:
    target = await api.world.add_export(export(OLIVIA))
    app = create_app(container=api.world.container)
    headers = [
        *((name.encode(), value.encode()) for name, value in api.headers(OLIVIA).items()),
        (b"idempotency-key", b"k-raw-query"),
    ]
    answer = await call(
        app, "POST", route.replace("{id}", str(target.id)), headers=headers, query=b"\x80"
    )
    assert answer.status in (200, 202)


async def test_bodies_nested_up_to_the_recursion_limit_are_400_never_500(api: Api) -> None:
    """The fingerprint walks the body again, deeper in the stack than the parser did: a
    depth that the parser just accepted must not reach the recursion limit there."""
    app = create_app(container=api.world.container)
    headers = [
        *((name.encode(), value.encode()) for name, value in api.headers(OLIVIA).items()),
        (b"content-type", b"application/json"),
        (b"idempotency-key", b"k-deep"),
    ]
    limit = sys.getrecursionlimit()
    statuses = set()
    for depth in range(limit - 150, limit + 50):
        body = b'{"x":' + b"[" * depth + b"]" * depth + b"}"
        answer = await call(app, "POST", REQUEST_ROUTES[0], headers=headers, chunks=[body])
        statuses.add(answer.status)
    assert statuses == {400}
    assert api.world.store.exports == {}


@pytest.mark.parametrize(("depth", "status"), [(31, 202), (32, 400)])
async def test_a_body_may_nest_32_levels(api: Api, depth: int, status: int) -> None:
    body = '{"x":' + "[" * depth + "]" * depth + "}"  # the object itself is one level
    answer = await api.client.post(
        REQUEST_ROUTES[0],
        headers={**api.headers(OLIVIA), "content-type": "application/json"},
        content=body,
    )
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["errors"][0]["field"] == "body"


async def test_a_request_cancelled_midway_gives_its_key_back(api: Api) -> None:
    container = api.world.container
    requests = IdempotentRequests(
        begin=container.begin_idempotent_request(), release=container.release_idempotency_key()
    )
    started = asyncio.Event()

    async def forever() -> None:
        claim = await requests.begin(OLIVIA, "POST /x", "k-cancelled", {})
        assert isinstance(claim, Claim)
        async with requests.releasing(claim):
            started.set()
            await asyncio.Event().wait()

    running = asyncio.create_task(forever())
    await started.wait()
    assert len(api.world.store.idempotency) == 1  # held while the request runs
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert api.world.store.idempotency == {}


async def test_no_body_null_and_an_empty_object_are_one_body(api: Api) -> None:
    target = await api.world.add_export(export(OLIVIA))
    headers = api.headers(OLIVIA, **_key(), **{"content-type": "application/json"})
    answers = [
        await api.client.post(_resend(target.id), headers=headers, content=body)
        for body in (b"", b"null", b"{}")
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert len(api.world.deliveries(target.id)) == 1
