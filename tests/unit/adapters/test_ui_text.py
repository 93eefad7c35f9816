"""The operator page's text: the catalog template is current, every catalog has every
message, and the reader's locale and zone shape dates, numbers and sizes."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from export_resend.adapters.ui.i18n import Reader, catalog_locales, translations
from tests.factories import caller

UI = Path(str(resources.files("export_resend.adapters.ui")))


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": ((3),), "N_": None, "ngettext": (1, 2)}
    found = extract_from_dir(
        str(UI),
        method_map,
        options_map=options,
        keywords=keywords,
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, *_ in found}


def test_the_catalog_template_holds_every_message_of_the_page_and_no_other() -> None:
    with (UI / "locale" / "messages.pot").open("rb") as file:
        template = {m.id for m in read_po(file) if m.id}
    assert template == _extracted(), "run `make messages` and commit the catalogs"


def test_english_is_shipped_and_every_catalog_has_every_message() -> None:
    assert "en" in catalog_locales()
    with (UI / "locale" / "messages.pot").open("rb") as file:
        template = {m.id for m in read_po(file) if m.id}
    for locale in catalog_locales():
        po = UI / "locale" / locale / "LC_MESSAGES" / "messages.po"
        catalog = read_po(io.BytesIO(po.read_bytes()))
        assert {m.id for m in catalog if m.id} == template, locale


def test_a_reader_without_a_locale_reads_english_in_utc() -> None:
    reader = Reader.of(caller())
    assert reader.tag == "en"
    assert reader.zone.key == "UTC"
    assert (
        reader.moment(datetime(2026, 1, 15, 9, 30, tzinfo=UTC)) == "Jan 15, 2026, 9:30:00\u202fAM"
    )
    assert reader.size(1_234_567) == "1.2 MB"
    assert translations("en").gettext("Sign in") == "Sign in"


def test_a_locale_and_zone_shape_dates_and_numbers_even_without_a_catalog() -> None:
    reader = Reader("fr-FR", "Europe/Paris")
    assert reader.tag == "fr-FR"
    assert reader.moment(datetime(2026, 1, 15, 9, 30, tzinfo=UTC)) == "15 janv. 2026, 10:30:00"
    assert reader.number(1234567) == "1\u202f234\u202f567"
    assert reader.translations.gettext("Sign in") == "Sign in"
    assert reader.local_input("2026-01-15T10:30") == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def test_an_unknown_locale_or_zone_falls_back_to_english_and_utc() -> None:
    reader = Reader("xx-Nope", "Mars/Olympus")
    assert reader.tag == "en"
    assert reader.zone.key == "UTC"


def test_before_sign_in_the_browsers_language_is_read_among_the_catalogs() -> None:
    assert Reader.of(None, "fr-FR,fr;q=0.9,en;q=0.5").tag == "en"  # no French catalog yet
    assert Reader.of(None, None).tag == "en"
