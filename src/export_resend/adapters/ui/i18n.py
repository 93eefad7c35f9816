"""The page in the reader's language and time zone: gettext catalogs (Babel) for the
templates' text, Babel for dates, numbers and sizes.

The catalogs are the ``.po`` files under ``locale/``, compiled in memory when first used;
``locale/messages.pot`` is extracted from the templates (``pybabel extract -F
babel.cfg``; a test checks it is current). A locale without a catalog reads English text
with its own dates and numbers.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from babel.units import format_unit

from export_resend.domain.caller import Caller

DEFAULT_LOCALE = "en"
DEFAULT_TIMEZONE = "UTC"
DOMAIN = "messages"
_LOCALES = resources.files(__package__).joinpath("locale")


def N_(text: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark ``text`` for the catalogs where it is defined; it is translated where shown."""
    return text


def catalog_locales() -> frozenset[str]:
    """The locales with a catalog shipped."""
    return frozenset(entry.name for entry in _LOCALES.iterdir() if entry.is_dir())


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The gettext translations of ``locale`` (its language's, else English text)."""
    parsed = Locale.parse(locale, sep="-" if "-" in locale else "_")
    for name in (str(parsed), parsed.language):
        po = _LOCALES.joinpath(name, "LC_MESSAGES", f"{DOMAIN}.po")
        if po.is_file():
            with po.open("rb") as file:
                catalog = read_po(file, locale=name)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            return Translations(compiled, domain=DOMAIN)
    return NullTranslations()


@functools.cache
def _locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag, sep="-" if "-" in tag else "_")
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


class Reader:
    """Who reads the page: a locale (``fr-FR``) and a time zone (``Europe/Paris``)."""

    def __init__(self, locale: str = DEFAULT_LOCALE, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.locale = _locale(locale)
        self.zone = _zone(timezone)

    @classmethod
    def of(cls, caller: Caller | None, accept_language: str | None = None) -> Reader:
        """The signed-in caller's locale and zone when ``Caller`` has them; before sign-in,
        the browser's preferred language among the catalogs; else English and UTC."""
        locale = getattr(caller, "locale", None)
        timezone = getattr(caller, "timezone", None)
        if locale is None and accept_language:
            locale = _negotiate(accept_language)
        return cls(locale or DEFAULT_LOCALE, timezone or DEFAULT_TIMEZONE)

    @property
    def tag(self) -> str:
        """The BCP 47 tag, for ``<html lang>``."""
        return str(self.locale).replace("_", "-")

    @property
    def translations(self) -> NullTranslations:
        return translations(str(self.locale))

    def moment(self, value: datetime | None) -> str:
        """A moment in the reader's zone and words; empty for ``None``."""
        if value is None:
            return ""
        return format_datetime(value, "medium", tzinfo=self.zone, locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def size(self, size_bytes: int | None) -> str:
        """A file size in the largest unit that keeps it at least 1 (kB = 1000 bytes)."""
        if size_bytes is None:
            return ""
        value, unit = float(size_bytes), "byte"
        for bigger in ("kilobyte", "megabyte", "gigabyte"):
            if value < 1000:
                break
            value, unit = value / 1000, bigger
        shown = round(value) if unit == "byte" else round(value, 1)
        return format_unit(shown, f"digital-{unit}", "short", locale=self.locale)

    def local_input(self, text: str) -> datetime | None:
        """A ``datetime-local`` field's value as a moment in the reader's zone."""
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            return None
        if naive.tzinfo is not None:
            return naive
        return naive.replace(tzinfo=self.zone)


def _negotiate(accept_language: str) -> str | None:
    preferred = []
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*":
            preferred.append(tag.replace("-", "_"))
    available = [*catalog_locales(), DEFAULT_LOCALE]
    found = Locale.negotiate(preferred, available)
    return None if found is None else str(found)
