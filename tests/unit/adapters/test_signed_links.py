"""Download tokens (itsdangerous): signed, fresh every time, useless under another secret or
altered."""

from __future__ import annotations

from export_resend.adapters.signing import ItsdangerousDownloadLinks
from tests.factories import caller, export

LINKS = ItsdangerousDownloadLinks(secret="s3cret-one", public_base_url="http://127.0.0.1:8000")


def _token(url: str) -> str:
    return url.partition("token=")[2]


def _altered(text: str) -> str:
    return ("B" if text[0] == "A" else "A") + text[1:]


def test_a_token_names_its_export() -> None:
    target = export(caller())
    assert LINKS.export_id(_token(LINKS.url_for(target))) == target.id


def test_every_link_is_new_but_names_the_same_export() -> None:
    target = export(caller())
    first, second = LINKS.url_for(target), LINKS.url_for(target)
    assert first != second
    assert LINKS.export_id(_token(first)) == LINKS.export_id(_token(second)) == target.id


def test_another_secret_or_an_altered_token_names_nothing() -> None:
    target = export(caller())
    token = _token(LINKS.url_for(target))
    other = ItsdangerousDownloadLinks(secret="s3cret-two", public_base_url="http://127.0.0.1:8000")
    assert other.export_id(token) is None
    payload, _, signature = token.rpartition(".")
    # first characters carry six full bits each; a last one may be only padding
    assert LINKS.export_id(f"{payload}.{_altered(signature)}") is None
    assert LINKS.export_id(f"{_altered(payload)}.{signature}") is None
    assert LINKS.export_id("") is None
    assert LINKS.export_id("garbage.garbage") is None
