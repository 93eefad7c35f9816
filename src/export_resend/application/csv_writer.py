"""The CSV of an export: UTF-8, ``;`` between cells, ``\\n`` after each row, a header row.

Dates are ISO 8601 UTC to the second (``2026-10-31T09:15:00Z``), amounts plain decimals
(``-12.50``), enums their value, ``None`` an empty cell. A text cell that a spreadsheet
would take for a formula (one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) gets a leading ``'``; so does one that already starts with ``'``, so that
``restore`` gives every text back exactly (``docs/exports.md``).
"""

from __future__ import annotations

import csv
import io
import re
import types
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from typing import Any, get_type_hints

from export_resend.domain.records import Record, column_names

_QUOTE = "'"
_RISKY_STARTS = ("=", "+", "-", "@", "\t", "\r", _QUOTE)
_ZERO = timedelta(0)
_MINUTES = tuple(f"T{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60))
_SECONDS = tuple(f"{second:02d}Z" for second in range(60))

_Column = Callable[[list[Any]], list[Any]]
"""Turns one column of a batch's values into its cells: strings (enums are)."""


def neutralise(text: str) -> str:
    """``text`` as a cell that no spreadsheet runs as a formula; ``restore`` undoes it."""
    return _QUOTE + text if text.startswith(_RISKY_STARTS) else text


def restore(cell: str) -> str:
    """The text that ``neutralise`` made ``cell`` from."""
    return cell[1:] if cell.startswith(_QUOTE) else cell


@lru_cache(maxsize=4096)
def _date(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _moment(value: datetime) -> str:
    if value.tzinfo is not UTC and value.utcoffset() != _ZERO:
        raise ValueError(f"a date must be a timezone-aware UTC datetime, not {value!r}")
    return (
        _date(value.toordinal()) + _MINUTES[value.hour * 60 + value.minute] + _SECONDS[value.second]
    )


# A batch is formatted column by column, so that the common case (no text to neutralise,
# no cell to quote) runs without a Python call per cell: "\x00" is only a separator here,
# and a text holding one at most sends its column down the exact path.
_RISKY_CELL = re.compile("\x00[" + re.escape("".join(_RISKY_STARTS)) + "]")


def _texts(values: list[str]) -> list[str]:
    if _RISKY_CELL.search("\x00" + "\x00".join(values)):
        return [neutralise(value) for value in values]
    return values


def _plain(texts: list[str]) -> bool:
    """Whether no cell of ``texts`` needs quotes."""
    joined = "".join(texts)
    return not (";" in joined or '"' in joined or "\n" in joined or "\r" in joined)


def _amounts(values: list[Decimal]) -> list[str]:
    if not all(map(Decimal.is_finite, values)):
        raise ValueError("an amount must be a finite number")
    return list(map(format, values, repeat("f")))


def _moments(values: list[datetime]) -> list[str]:
    return list(map(_moment, values))


def _counts(values: list[int]) -> list[str]:
    return list(map(str, values))


def _enums(values: list[StrEnum]) -> list[StrEnum]:
    return values


def _optional(column: _Column) -> _Column:
    def optional_column(values: list[Any]) -> list[str]:
        cells = iter(column([value for value in values if value is not None]))
        return ["" if value is None else next(cells) for value in values]

    return optional_column


_COLUMNS: dict[type, _Column] = {
    str: _texts,
    Decimal: _amounts,
    datetime: _moments,
    int: _counts,
}


def _column(hint: object) -> _Column:
    if isinstance(hint, types.UnionType):
        present = [arg for arg in hint.__args__ if arg is not type(None)]
        if len(present) == 1 and len(hint.__args__) == 2:
            return _optional(_column(present[0]))
    elif isinstance(hint, type):
        if issubclass(hint, StrEnum):
            return _enums
        if hint in _COLUMNS:
            return _COLUMNS[hint]
    raise TypeError(f"no CSV format for a field of type {hint}")


def _is_text(hint: object) -> bool:
    return hint is str or hint == str | None


def _camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


class _Layout:
    """The columns of one record type: a getter and a formatter each, and their names."""

    def __init__(self, record_type: type[Record]) -> None:
        names = column_names(record_type)
        hints = get_type_hints(record_type)
        self.columns = tuple((attrgetter(name), _column(hints[name])) for name in names)
        self.texts = tuple(i for i, name in enumerate(names) if _is_text(hints[name]))
        self.header = tuple(_camel_case(name) for name in names)

    def cells(self, records: list[Record]) -> list[list[str]]:
        """The cells of ``records``, column by column."""
        return [column(list(map(get, records))) for get, column in self.columns]

    def plain(self, columns: list[list[str]]) -> bool:
        """Whether no cell of ``columns`` needs quotes."""
        return all(_plain(columns[i]) for i in self.texts)


_LAYOUTS: dict[type[Record], _Layout] = {}


def _layout(record_type: type[Record]) -> _Layout:
    layout = _LAYOUTS.get(record_type)
    if layout is None:
        layout = _LAYOUTS[record_type] = _Layout(record_type)
    return layout


def cells(record: Record) -> list[str]:
    """The cells of ``record``'s row, in column order, as the CSV holds them."""
    return [str(cell) for (cell,) in _layout(type(record)).cells([record])]


def header(record_type: type[Record]) -> list[str]:
    """The column names of ``record_type``'s export, in camelCase (``eventId``)."""
    return list(_layout(record_type).header)


class CsvEncoder:
    """Encodes the rows of one export type, batch by batch, into the bytes of its CSV.

    The file is ``header_bytes()`` followed by ``encode(batch)`` of each batch in order.
    Memory grows with the batch, never with the file.
    """

    def __init__(self, record_type: type[Record]) -> None:
        self._layout = _layout(record_type)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=";", lineterminator="\n")
        # csv quotes a cell holding a character of the line terminator, so with "\n" alone
        # a "\r" would stay bare, and any reader would take it for a line break: the rows
        # that have one are written with "\r\n" (which quotes it), then given back "\n"
        self._crlf_writer = csv.writer(self._buffer, delimiter=";", lineterminator="\r\n")

    def header_bytes(self) -> bytes:
        """The header row."""
        return (";".join(self._layout.header) + "\n").encode()

    def encode(self, records: Iterable[Record]) -> bytes:
        """The rows of ``records``, all of this encoder's record type."""
        columns = self._layout.cells(list(records))
        rows = list(zip(*columns, strict=True))
        if not rows:
            return b""
        if self._layout.plain(columns):
            # what csv.writer would write when no cell needs quotes, without its cost
            return ("\n".join(map(";".join, rows)) + "\n").encode()
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        if "\r" in text:
            text = "".join(map(self._crlf_line, rows))
        return text.encode()

    def _crlf_line(self, row: tuple[str, ...]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._crlf_writer.writerow(row)
        return self._buffer.getvalue()[:-2] + "\n"
