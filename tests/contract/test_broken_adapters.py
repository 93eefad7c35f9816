"""Each contract suite fails an adapter with a deliberate defect, at the test for it.

Each suite runs against the broken adapters of ``broken_adapters.py`` in a pytest of its
own (``pytester``), as a host's tests would run it; the honest adapter each is made from
passes every test the same way.
"""

from __future__ import annotations

import pytest


def _failures(pytester: pytest.Pytester, suite: str, *options: str) -> set[str]:
    """The tests of ``suite`` (a class of ``broken_adapters``) that fail; at least one of
    them must pass or fail, so that an empty answer means the suite ran and passed."""
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    pytester.makepyfile(f"from tests.contract.broken_adapters import {suite} as TestSuite\n")
    passed, _, failed = pytester.inline_run("-p", "no:cacheprovider", *options).listoutcomes()
    assert passed or failed, f"no test of {suite} ran"
    return {report.nodeid.partition("::TestSuite::")[2] for report in failed}


@pytest.mark.parametrize(
    "suite", ["TestHonestMailer", "TestHonestFileStore", "TestHonestRowSource"]
)
def test_the_honest_adapters_pass_their_suite_the_same_way(
    pytester: pytest.Pytester, suite: str
) -> None:
    assert _failures(pytester, suite) == set()


def test_a_mailer_that_strips_the_cc_header_fails_the_mailer_contract(
    pytester: pytest.Pytester,
) -> None:
    assert _failures(pytester, "TestCcStrippingMailer") == {
        "test_what_arrives_has_exactly_the_headers_and_bodies_sent[cc]"
    }


def test_a_file_store_that_never_deletes_fails_the_file_store_contract(
    pytester: pytest.Pytester,
) -> None:
    assert _failures(pytester, "TestNeverDeletingFileStore") == {
        "test_a_deleted_file_is_gone_and_its_key_can_be_used_again",
        "test_deleting_twice_or_an_unknown_key_is_no_error",
    }


ORDER = "test_the_same_arguments_yield_the_same_records_in_the_same_order"
START_OVER = "test_reading_may_stop_after_the_first_record_and_start_over"


@pytest.mark.parametrize(
    ("suite", "failing"),
    [
        ("TestNaiveDatetimeRowSource", {"test_every_datetime_is_timezone_aware_utc"}),
        ("TestScopeBlindRowSource", {"test_a_supplier_scope_yields_only_that_suppliers_records"}),
        ("TestFilterBlindRowSource", {"test_every_filtered_record_matches_the_filters"}),
        ("TestHoardingRowSource", {"test_memory_stays_flat_while_the_records_stream"}),
        ("TestOrderlessRowSource", {ORDER, START_OVER}),
        (
            "TestForgetfulFilteringRowSource",
            {"test_filters_leave_out_no_record_that_matches_them"},
        ),
    ],
)
def test_a_broken_row_source_fails_the_row_source_contract_where_it_breaks_it(
    pytester: pytest.Pytester, suite: str, failing: set[str]
) -> None:
    assert _failures(pytester, suite) == failing
