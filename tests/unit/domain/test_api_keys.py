"""The API key format: every key made parses, and any one-character slip is refused."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from export_resend.domain.api_keys import (
    BASE62,
    CHECKSUM_LENGTH,
    KEY_ID_LENGTH,
    KEY_LENGTH,
    PREFIX,
    SECRET_LENGTH,
    ApiKey,
    MalformedApiKey,
    base62,
)

keys = st.builds(
    ApiKey,
    st.text(BASE62, min_size=KEY_ID_LENGTH, max_size=KEY_ID_LENGTH),
    st.text(BASE62, min_size=SECRET_LENGTH, max_size=SECRET_LENGTH),
)
# a key's own alphabet and its separator, then anything at all
replacements = st.sampled_from(BASE62 + "_") | st.characters()


def test_a_new_key_reads_prefix_key_id_secret_and_checksum() -> None:
    key = ApiKey.generate()
    assert len(key.text) == KEY_LENGTH == 55
    assert key.text.startswith(f"{PREFIX}{key.key_id}_{key.secret}")
    assert set(key.text[len(PREFIX) :]) <= set(BASE62 + "_")


def test_new_keys_are_all_different() -> None:
    made = [ApiKey.generate() for _ in range(1000)]
    assert len({k.key_id for k in made}) == len({k.secret for k in made}) == 1000


def test_generated_keys_always_parse_back() -> None:
    for _ in range(1000):
        key = ApiKey.generate()
        assert ApiKey.parse(key.text) == key


@given(keys)
def test_any_key_parses_back_to_itself(key: ApiKey) -> None:
    parsed = ApiKey.parse(key.text)
    assert parsed == key
    assert parsed.sha256 == key.sha256


@given(keys, st.data())
def test_any_single_character_replaced_is_refused(key: ApiKey, data: st.DataObject) -> None:
    text = key.text
    at = data.draw(st.integers(0, len(text) - 1), label="at")
    char = data.draw(replacements.filter(lambda c: c != text[at]), label="char")
    with pytest.raises(MalformedApiKey):
        ApiKey.parse(text[:at] + char + text[at + 1 :])


@given(keys, st.data())
def test_any_single_character_inserted_is_refused(key: ApiKey, data: st.DataObject) -> None:
    text = key.text
    at = data.draw(st.integers(0, len(text)), label="at")
    char = data.draw(replacements, label="char")
    with pytest.raises(MalformedApiKey):
        ApiKey.parse(text[:at] + char + text[at:])


@given(keys, st.data())
def test_any_single_character_left_out_is_refused(key: ApiKey, data: st.DataObject) -> None:
    text = key.text
    at = data.draw(st.integers(0, len(text) - 1), label="at")
    with pytest.raises(MalformedApiKey):
        ApiKey.parse(text[:at] + text[at + 1 :])


@given(keys, st.data())
def test_two_neighbours_swapped_are_refused(key: ApiKey, data: st.DataObject) -> None:
    text = key.text
    at = data.draw(
        st.integers(0, len(text) - 2).filter(lambda i: text[i] != text[i + 1]), label="at"
    )
    with pytest.raises(MalformedApiKey):
        ApiKey.parse(text[:at] + text[at + 1] + text[at] + text[at + 2 :])


@given(st.text())
@example("")
@example("key-0123456789abcdef0123456789abcdef")
@example("demo-olivia-fc7665bc3683ba8e05846ea5")
@example("erk_" + "0" * 12 + "_" + "0" * 38)
def test_text_that_is_not_a_key_is_refused(text: str) -> None:
    try:
        key = ApiKey.parse(text)
    except MalformedApiKey:
        return
    assert key.text == text  # only a real key, checksum and all, ever parses


def test_a_key_with_its_checksum_recomputed_over_another_secret_is_a_different_key() -> None:
    key = ApiKey.generate()
    other = ApiKey(key.key_id, key.secret[::-1])
    assert ApiKey.parse(other.text) != key
    assert other.sha256 != key.sha256


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [("short", "s" * SECRET_LENGTH), ("k" * KEY_ID_LENGTH, "short"), ("k_" * 6, "s" * 32)],
)
def test_a_key_is_made_of_a_key_id_and_a_secret_of_their_length(key_id: str, secret: str) -> None:
    with pytest.raises(MalformedApiKey):
        ApiKey(key_id, secret)


def test_a_key_shows_its_id_but_never_its_secret() -> None:
    key = ApiKey.generate()
    for shown in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert key.key_id in shown
        assert key.secret not in shown


@given(st.integers(0, 62**CHECKSUM_LENGTH - 1))
def test_base62_has_a_fixed_width_and_reads_back(number: int) -> None:
    digits = base62(number, CHECKSUM_LENGTH)
    assert len(digits) == CHECKSUM_LENGTH
    assert int_from_base62(digits) == number


def test_base62_refuses_what_does_not_fit() -> None:
    assert base62(2**32 - 1, CHECKSUM_LENGTH) == "4gfFC3"
    with pytest.raises(ValueError, match="more than 6"):
        base62(62**CHECKSUM_LENGTH, CHECKSUM_LENGTH)
    with pytest.raises(ValueError, match="negative"):
        base62(-1, CHECKSUM_LENGTH)


def int_from_base62(digits: str) -> int:
    alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
    number = 0
    for digit in digits:
        number = number * 62 + alphabet.index(digit)
    return number
