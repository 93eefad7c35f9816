"""The ``Idempotency-Key`` header: which values are keys."""

from __future__ import annotations

import pytest

from export_resend.adapters.http.idempotency import KEY_PATTERN, checked_key
from export_resend.application.errors import ValidationFailed


@pytest.mark.parametrize("value", ["a", "~" * 255, "Zx-9_./:= !"])
def test_printable_ascii_keys_up_to_255_are_keys(value: str) -> None:
    assert checked_key(value) == value


@pytest.mark.parametrize("value", ["", "é", "a\nb", "a\x00", "k" * 256, "\u2028"])
def test_other_keys_are_refused_naming_the_header(value: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        checked_key(value)
    assert refused.value.errors[0].field == "Idempotency-Key"


def test_the_documented_pattern_is_printable_ascii_without_a_space_at_either_end() -> None:
    assert KEY_PATTERN == "^[!-~]([ -~]*[!-~])?$"
