"""The export aggregate, read as the resend rule of the specification."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.errors import (
    ExportForbidden,
    ExportNotFound,
    ExportNotReady,
    InvalidTransition,
    TooManyCcRecipients,
)
from export_resend.domain.export import Export, ExportStatus
from export_resend.testing.strategies import addresses, callers, exports
from tests.factories import NOW, TTL, caller, export

OWNER = caller("olivia", "acme")
COLLEAGUE = caller("oscar", "acme")
STRANGER = caller("olivia", "globex")  # same user id, other tenant: still a stranger


def _outcome(export_: Export, who: Caller, now: datetime = NOW) -> type[Exception] | None:
    try:
        export_.plan_resend(who, None, now)
    except (ExportNotFound, ExportForbidden, ExportNotReady) as exc:
        return type(exc)
    return None


@pytest.mark.parametrize("status", list(ExportStatus))
@pytest.mark.parametrize(
    ("who", "expected_unless_ready"),
    [
        (OWNER, ExportNotReady),
        (COLLEAGUE, ExportForbidden),
        (STRANGER, ExportNotFound),
    ],
    ids=["owner", "same-tenant-non-owner", "other-tenant"],
)
def test_resend_rule_checks_tenant_then_owner_then_status(
    status: ExportStatus, who: Caller, expected_unless_ready: type[Exception]
) -> None:
    expected = None if (status is ExportStatus.READY and who is OWNER) else expected_unless_ready
    assert _outcome(export(OWNER, status), who) is expected


def test_not_ready_names_the_effective_status() -> None:
    with pytest.raises(ExportNotReady) as raised:
        export(OWNER, ExportStatus.FAILED).plan_resend(OWNER, None, NOW)
    assert raised.value.status is ExportStatus.FAILED


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(seconds=-1), ExportStatus.READY),
        (timedelta(0), ExportStatus.EXPIRED),
        (timedelta(seconds=1), ExportStatus.EXPIRED),
    ],
    ids=["just-before", "at", "just-after"],
)
def test_ready_export_is_expired_from_expires_at_on(
    offset: timedelta, expected: ExportStatus
) -> None:
    ready = export(OWNER, ready_at=NOW - TTL)
    assert ready.expires_at == NOW
    assert ready.status is ExportStatus.READY
    assert ready.effective_status(NOW + offset) is expected


def test_resend_of_ready_export_past_expiry_is_refused_as_expired() -> None:
    ready = export(OWNER, ready_at=NOW - TTL)
    with pytest.raises(ExportNotReady) as raised:
        ready.plan_resend(OWNER, None, NOW)
    assert raised.value.status is ExportStatus.EXPIRED


def test_to_is_always_the_callers_current_address() -> None:
    moved = replace(OWNER, email="olivia.new@acme.example.com")
    plan = export(OWNER).plan_resend(moved, ["olivia@acme.example.com"], NOW)
    assert plan.recipients.to == "olivia.new@acme.example.com"
    assert plan.recipients.cc == ("olivia@acme.example.com",)


def test_no_cc_given_keeps_the_original_list() -> None:
    original = ("finance@acme.example.com", "audit@acme.example.com")
    plan = export(OWNER, cc=original).plan_resend(OWNER, None, NOW)
    assert plan.recipients.cc == original


def test_empty_cc_sends_with_no_cc() -> None:
    plan = export(OWNER, cc=("finance@acme.example.com",)).plan_resend(OWNER, [], NOW)
    assert plan.recipients.cc == ()
    assert plan.recipients.envelope == (OWNER.email,)


def test_given_cc_replaces_the_original_list() -> None:
    plan = export(OWNER, cc=("finance@acme.example.com",)).plan_resend(
        OWNER, ["ceo@acme.example.com"], NOW
    )
    assert plan.recipients.cc == ("ceo@acme.example.com",)


def test_more_than_twenty_cc_requested_is_refused() -> None:
    cc = [f"person{i}@acme.example.com" for i in range(21)]
    with pytest.raises(TooManyCcRecipients):
        export(OWNER).plan_resend(OWNER, cc, NOW)


@given(exports(), callers(), st.datetimes(timezones=st.just(NOW.tzinfo)))
def test_resend_is_allowed_exactly_for_the_owner_of_an_effectively_ready_export(
    candidate: Export, who: Caller, now: datetime
) -> None:
    allowed = (
        who.tenant_id == candidate.tenant_id
        and who.user_id == candidate.owner_id
        and candidate.effective_status(now) is ExportStatus.READY
    )
    assert (_outcome(candidate, who, now) is None) is allowed


@given(exports(status=ExportStatus.READY), st.lists(addresses(), max_size=20))
def test_envelope_is_the_caller_then_the_cc_and_nothing_else(
    candidate: Export, cc: list[str]
) -> None:
    owner = Caller(
        candidate.owner_id, candidate.owner_email, candidate.tenant_id, ClientType.OPERATOR
    )
    assert candidate.ready_at is not None
    plan = candidate.plan_resend(owner, cc, candidate.ready_at)
    assert plan.recipients.envelope[0] == owner.email
    assert set(plan.recipients.envelope[1:]) <= set(cc)


class TestLifecycle:
    def test_pending_becomes_ready_with_file_and_expiry(self) -> None:
        pending = export(OWNER, ExportStatus.PENDING)
        file = export(OWNER).file
        assert file is not None
        ready = pending.mark_ready(file, NOW, TTL)
        assert (ready.status, ready.ready_at, ready.expires_at) == (
            ExportStatus.READY,
            NOW,
            NOW + TTL,
        )

    def test_pending_becomes_failed_with_a_reason(self) -> None:
        failed = export(OWNER, ExportStatus.PENDING).mark_failed("source down")
        assert (failed.status, failed.failure_reason) == (ExportStatus.FAILED, "source down")

    @pytest.mark.parametrize(
        "status", [ExportStatus.READY, ExportStatus.FAILED, ExportStatus.EXPIRED]
    )
    def test_only_pending_can_become_ready_or_failed(self, status: ExportStatus) -> None:
        done = export(OWNER, status)
        file = export(OWNER).file
        assert file is not None
        with pytest.raises(InvalidTransition):
            done.mark_ready(file, NOW, TTL)
        with pytest.raises(InvalidTransition):
            done.mark_failed("again")

    def test_ready_is_recorded_expired_only_once_its_time_has_come(self) -> None:
        ready = export(OWNER, ready_at=NOW - TTL + timedelta(seconds=1))
        with pytest.raises(InvalidTransition):
            ready.expire(NOW)
        assert ready.expire(NOW + timedelta(seconds=1)).status is ExportStatus.EXPIRED

    @pytest.mark.parametrize(
        "status", [ExportStatus.PENDING, ExportStatus.FAILED, ExportStatus.EXPIRED]
    )
    def test_only_ready_can_expire(self, status: ExportStatus) -> None:
        with pytest.raises(InvalidTransition):
            export(OWNER, status).expire(NOW + timedelta(days=365))

    def test_naive_timestamps_are_refused(self) -> None:
        with pytest.raises(ValueError, match="UTC"):
            replace(export(OWNER), requested_at=NOW.replace(tzinfo=None))

    @pytest.mark.parametrize(
        "bad",
        [
            "x@y.io\r\nBcc: spy@evil.example",
            "a@x.io, b@x.io",
            "Boss <boss@x.io>",
            "=?utf-8?q?x?=@x.io",
            "no-at-sign",
            "two@@x.io",
            "@x.io",
            "x@",
            "tab\t@x.io",
        ],
    )
    def test_an_address_that_is_not_bare_cannot_be_stored(self, bad: str) -> None:
        with pytest.raises(ValueError, match="bare email address"):
            replace(export(OWNER), cc=(bad,))
        with pytest.raises(ValueError, match="bare email address"):
            replace(export(OWNER), owner_email=bad)
        with pytest.raises(ValueError, match="bare email address"):
            replace(OWNER, email=bad)

    def test_an_export_has_at_most_twenty_cc(self) -> None:
        cc = tuple(f"p{i}@x.io" for i in range(21))
        with pytest.raises(ValueError, match="at most 20"):
            replace(export(OWNER), cc=cc)
        assert len(replace(export(OWNER), cc=cc[:20]).cc) == 20

    def test_a_ready_export_has_a_file(self) -> None:
        with pytest.raises(ValueError, match="file"):
            replace(export(OWNER), file=None)
