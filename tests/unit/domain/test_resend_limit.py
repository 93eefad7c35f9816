"""The resend limit: at most N resends of one export in any rolling hour."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.domain.delivery import ResendLimit
from export_resend.domain.errors import ResendRateLimited
from tests.factories import NOW

HOUR = timedelta(hours=1)


def _allowed_by_brute_force(limit: int, earlier: list[timedelta], wait: int) -> bool:
    """Whether a resend ``wait`` seconds from now is allowed, second by second: fewer than
    ``limit`` resends in the hour before it (ages are how long ago each one was)."""
    then = [age + timedelta(seconds=wait) for age in earlier]
    return sum(age < HOUR for age in then) < limit


@given(
    limit=st.integers(1, 8),
    ages=st.lists(st.integers(0, 3600 - 1), max_size=12),
)
def test_a_resend_is_refused_exactly_when_the_hour_holds_the_limit(
    limit: int, ages: list[int]
) -> None:
    earlier = [timedelta(seconds=a, microseconds=500) for a in ages]
    counted = [NOW - age for age in earlier]
    rule = ResendLimit(limit)
    export_id = uuid4()
    if _allowed_by_brute_force(limit, earlier, 0):
        rule.check(export_id, counted, NOW)
        return
    with pytest.raises(ResendRateLimited) as refused:
        rule.check(export_id, counted, NOW)
    wait = refused.value.retry_after_seconds
    assert refused.value.limit == limit
    assert _allowed_by_brute_force(limit, earlier, wait)  # Retry-After is enough...
    assert not _allowed_by_brute_force(limit, earlier, wait - 1)  # ...and no more


def test_only_resends_after_the_start_of_the_window_count() -> None:
    assert ResendLimit(5).counted_after(NOW) == NOW - HOUR


def test_the_wait_is_at_least_one_second() -> None:
    rule = ResendLimit(1)
    with pytest.raises(ResendRateLimited) as refused:
        rule.check(uuid4(), [NOW - HOUR + timedelta(microseconds=1)], NOW)
    assert refused.value.retry_after_seconds == 1


@pytest.mark.parametrize("per_window", [0, -1])
def test_a_limit_below_one_is_refused(per_window: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ResendLimit(per_window)
