"""The outbox record: claims, per-recipient outcomes, retries with backoff, DEAD."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.domain.delivery import (
    MAX_TEXT,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RetryPolicy,
)
from export_resend.domain.recipients import Recipients
from tests.factories import NOW

TO, CC1, CC2 = "olivia@acme.example.com", "a@x.io", "b@x.io"
LEASE = timedelta(minutes=2)
POLICY = RetryPolicy(
    max_attempts=4,
    first_delay=timedelta(seconds=10),
    max_delay=timedelta(seconds=60),
    jitter=lambda: 1.0,
)


def queued(*cc: str) -> Delivery:
    return Delivery.queue(uuid4(), DeliveryKind.RESEND, Recipients(TO, cc), NOW, "example.com")


def claimed(delivery: Delivery) -> Delivery:
    return delivery.claimed(uuid4(), NOW, LEASE)


def claimed_when_due(delivery: Delivery) -> Delivery:
    return delivery.claimed(uuid4(), delivery.next_attempt_at, LEASE)


def accepted(address: str) -> RecipientResult:
    return RecipientResult(address, RecipientOutcome.ACCEPTED, 250, "OK")


def refused(address: str, code: int) -> RecipientResult:
    outcome = (
        RecipientOutcome.REFUSED_PERMANENTLY
        if code >= 500
        else RecipientOutcome.REFUSED_TRANSIENTLY
    )
    return RecipientResult(address, outcome, code, "no")


def test_a_new_delivery_is_queued_due_at_once_with_a_message_id_of_its_own() -> None:
    delivery = queued(CC1)
    assert delivery.status is DeliveryStatus.QUEUED
    assert delivery.is_due(NOW)
    assert not delivery.is_due(NOW - timedelta(seconds=1))
    assert delivery.message_id == f"<{delivery.id.hex}@example.com>"
    assert delivery.pending_recipients() == (TO, CC1)


def test_a_claim_leases_the_delivery_until_the_lease_ends() -> None:
    lease_id = uuid4()
    held = queued().claimed(lease_id, NOW, LEASE)
    assert (held.status, held.lease_id, held.next_attempt_at) == (
        DeliveryStatus.SENDING,
        lease_id,
        NOW + LEASE,
    )
    assert not held.is_due(NOW + LEASE - timedelta(microseconds=1))
    assert held.is_due(NOW + LEASE)
    with pytest.raises(ValueError, match="not claimable"):
        held.claimed(uuid4(), NOW, LEASE)


def test_everyone_accepted_is_sent() -> None:
    sent = claimed(queued(CC1)).attempted([accepted(TO), accepted(CC1)], NOW, POLICY)
    assert sent.status is DeliveryStatus.SENT
    assert (sent.attempts, sent.sent_at, sent.last_attempt_at, sent.lease_id) == (1, NOW, NOW, None)
    assert sent.pending_recipients() == ()


def test_a_permanent_refusal_is_recorded_and_never_retried() -> None:
    sent = claimed(queued(CC1)).attempted([accepted(TO), refused(CC1, 550)], NOW, POLICY)
    assert sent.status is DeliveryStatus.SENT
    assert sent.results == (accepted(TO), refused(CC1, 550))


def test_nobody_accepting_it_is_dead() -> None:
    dead = claimed(queued(CC1)).attempted([refused(TO, 550), refused(CC1, 553)], NOW, POLICY)
    assert dead.status is DeliveryStatus.DEAD
    assert dead.last_error == "the relay refused every recipient"


def test_a_transient_refusal_is_retried_later_for_that_address_alone() -> None:
    first = claimed(queued(CC1, CC2)).attempted(
        [accepted(TO), refused(CC1, 550), refused(CC2, 450)], NOW, POLICY
    )
    assert first.status is DeliveryStatus.QUEUED
    assert first.next_attempt_at == NOW + timedelta(seconds=10)
    assert first.last_error == "refused for now: 450 no"
    assert first.pending_recipients() == (CC2,)
    later = NOW + timedelta(seconds=10)
    second = first.claimed(uuid4(), later, LEASE).attempted([accepted(CC2)], later, POLICY)
    assert second.status is DeliveryStatus.SENT
    assert second.results == (accepted(TO), refused(CC1, 550), accepted(CC2))
    assert second.attempts == 2
    assert second.message_id == first.message_id


def test_an_unreachable_relay_is_retried_with_growing_waits_then_dead() -> None:
    delivery, moment, waits = queued(), NOW, []
    while delivery.status is not DeliveryStatus.DEAD:
        delivery = claimed_when_due(delivery).attempt_failed("connection refused", moment, POLICY)
        if delivery.status is DeliveryStatus.QUEUED:
            waits.append(delivery.next_attempt_at - moment)
            moment = delivery.next_attempt_at
    assert waits == [timedelta(seconds=s) for s in (10, 20, 40)]
    assert delivery.attempts == POLICY.max_attempts
    assert delivery.last_error == "gave up after 4 attempts: connection refused"


def test_a_released_delivery_is_due_again_with_no_attempt_counted() -> None:
    held = claimed(queued())
    back = held.released(NOW + timedelta(seconds=5))
    assert (back.status, back.attempts, back.lease_id) == (DeliveryStatus.QUEUED, 0, None)
    assert back.next_attempt_at == NOW + timedelta(seconds=5)


@given(
    attempts=st.integers(min_value=0, max_value=200),
    jitter=st.floats(min_value=0, max_value=1),
    first=st.integers(min_value=1, max_value=3600),
    ceiling=st.integers(min_value=1, max_value=86_400),
)
def test_a_wait_is_in_the_upper_half_of_the_capped_doubling(
    attempts: int, jitter: float, first: int, ceiling: int
) -> None:
    policy = RetryPolicy(
        first_delay=timedelta(seconds=first),
        max_delay=timedelta(seconds=max(first, ceiling)),
        jitter=lambda: jitter,
    )
    cap = min(first * 2.0 ** max(attempts - 1, 0), max(first, ceiling))
    wait = policy.delay(attempts).total_seconds()
    assert cap / 2 - 1e-6 <= wait <= cap + 1e-6


_OUTCOMES = st.sampled_from([250, 450, 451, 550, 553])


@given(rounds=st.lists(st.lists(_OUTCOMES, min_size=3, max_size=3), min_size=1, max_size=6))
def test_settled_addresses_are_never_tried_again_and_each_has_one_result(
    rounds: list[list[int]],
) -> None:
    delivery = queued(CC1, CC2)
    policy = RetryPolicy(max_attempts=100, jitter=lambda: 0.0)
    for codes in rounds:
        if delivery.status is not DeliveryStatus.QUEUED:
            break
        pending = delivery.pending_recipients()
        answer = dict(zip((TO, CC1, CC2), codes, strict=True))
        results = [accepted(a) if answer[a] < 400 else refused(a, answer[a]) for a in pending]
        before = {r.address: r for r in delivery.results}
        delivery = claimed_when_due(delivery).attempted(results, delivery.next_attempt_at, policy)
        for address, result in before.items():
            if result.outcome is not RecipientOutcome.REFUSED_TRANSIENTLY:
                assert address not in pending
                assert {r.address: r for r in delivery.results}[address] == result
    addresses = [r.address for r in delivery.results]
    assert addresses == [a for a in (TO, CC1, CC2) if a in addresses]
    if delivery.status is DeliveryStatus.QUEUED:
        assert delivery.pending_recipients()
    else:
        assert delivery.pending_recipients() == ()


def test_out_of_attempts_with_someone_served_is_sent_with_the_others_last_answer() -> None:
    policy = RetryPolicy(max_attempts=2, jitter=lambda: 1.0)
    first = claimed(queued(CC1)).attempted([accepted(TO), refused(CC1, 450)], NOW, policy)
    last = claimed_when_due(first).attempted([refused(CC1, 451)], first.next_attempt_at, policy)
    assert last.status is DeliveryStatus.SENT
    assert last.results == (accepted(TO), refused(CC1, 451))
    assert last.last_error == "gave up after 2 attempts: refused for now: 451 no"


def test_a_relays_text_is_stored_printable_and_bounded() -> None:
    undecodable = "550 caf\udce9 \x00gone\r\n" + "x" * 1000
    result = RecipientResult(CC1, RecipientOutcome.REFUSED_PERMANENTLY, 550, undecodable)
    assert result.text is not None
    assert result.text.startswith("550 caf?  gone  x")
    assert len(result.text) == MAX_TEXT
    result.text.encode("utf-8")  # storable anywhere
    dead = queued().dead("broke: \udcff\n", NOW)
    assert dead.last_error == "broke: ? "
