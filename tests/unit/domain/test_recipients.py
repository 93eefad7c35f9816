"""CC normalisation: first of each address kept, the To dropped, each removal reported."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.domain.errors import TooManyCcRecipients
from export_resend.domain.recipients import (
    MAX_CC_RECIPIENTS,
    CcRemoval,
    CcWarning,
    normalize_cc,
)
from export_resend.testing.strategies import addresses, case_variants, cc_lists

TO = "olivia@acme.example.com"


def _folded(values: tuple[str, ...] | list[str]) -> list[str]:
    return [v.casefold() for v in values]


@given(to=addresses(), cc=cc_lists())
def test_result_has_no_duplicates_in_any_case(to: str, cc: list[str]) -> None:
    kept = normalize_cc(to, cc).cc
    assert len(set(_folded(kept))) == len(kept)


@given(cc=cc_lists(pool=st.sampled_from([TO, "a@x.io", "b@x.io", "c@y.org"])))
def test_result_never_contains_the_to(cc: list[str]) -> None:
    assert TO.casefold() not in _folded(normalize_cc(TO, cc).cc)


@given(data=st.data(), cc=cc_lists(max_size=19))
def test_the_to_in_any_case_is_removed_and_reported(data: st.DataObject, cc: list[str]) -> None:
    index = data.draw(st.integers(0, len(cc)))
    to_variant = data.draw(case_variants(TO))
    result = normalize_cc(TO, [*cc[:index], to_variant, *cc[index:]])
    assert CcWarning(index, to_variant, CcRemoval.PRIMARY_RECIPIENT) in result.warnings


@given(to=addresses(), cc=cc_lists())
def test_first_occurrences_are_kept_in_their_order(to: str, cc: list[str]) -> None:
    expected: list[str] = []
    for address in cc:
        if address.casefold() not in [*_folded(expected), to.casefold()]:
            expected.append(address)
    assert list(normalize_cc(to, cc).cc) == expected


@given(to=addresses(), cc=cc_lists())
def test_every_entry_is_either_kept_or_reported_once(to: str, cc: list[str]) -> None:
    result = normalize_cc(to, cc)
    reported = sorted(w.index for w in result.warnings)
    assert len(result.cc) + len(reported) == len(cc)
    assert len(set(reported)) == len(reported)
    assert all(cc[w.index] == w.address for w in result.warnings)


@given(to=addresses(), cc=cc_lists())
def test_normalising_twice_changes_nothing(to: str, cc: list[str]) -> None:
    once = normalize_cc(to, cc)
    twice = normalize_cc(to, once.cc)
    assert twice.cc == once.cc
    assert twice.warnings == ()


@given(
    to=addresses(),
    cc=st.lists(addresses(), min_size=1, max_size=5).flatmap(
        lambda pool: st.lists(st.sampled_from(pool), min_size=MAX_CC_RECIPIENTS + 1, max_size=80)
    ),
)
def test_more_than_twenty_entries_are_always_refused(to: str, cc: list[str]) -> None:
    with pytest.raises(TooManyCcRecipients) as raised:
        normalize_cc(to, cc)
    assert raised.value.count == len(cc)


def test_twenty_duplicates_of_one_address_are_within_the_limit() -> None:
    result = normalize_cc(TO, ["a@x.io"] * MAX_CC_RECIPIENTS)
    assert result.cc == ("a@x.io",)
    assert [w.reason for w in result.warnings] == [CcRemoval.DUPLICATE] * 19


def test_duplicate_warning_names_the_later_entry() -> None:
    result = normalize_cc(TO, ["Finance@x.io", "audit@x.io", "FINANCE@X.IO"])
    assert result.cc == ("Finance@x.io", "audit@x.io")
    assert result.warnings == (CcWarning(2, "FINANCE@X.IO", CcRemoval.DUPLICATE),)
