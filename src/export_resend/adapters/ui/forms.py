"""The forms of the page, derived from the use cases' commands: which inputs an export
request has (from its command's fields and their types), how a posted form becomes the
command's input as the API would have received it, and where each field error goes."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import AwareDatetime
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData
from starlette.requests import Request

from export_resend.adapters.ui.i18n import Reader
from export_resend.application.errors import FieldIssue
from export_resend.application.request_export import ExportCommand
from export_resend.domain.recipients import MAX_CC_RECIPIENTS

Widget = Literal["cc", "choices", "select", "number", "moment", "lines", "text"]
CC_FIELD = "cc"
SPARE_CC_INPUTS = 2
"""Empty CC inputs offered after the addresses given (more without a script: "Add")."""


@dataclass(frozen=True, slots=True)
class Input:
    """One field of a command as a form shows it: ``name`` as the API names it."""

    name: str
    widget: Widget
    choices: tuple[str, ...] = ()


def _unwrapped(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, ...]`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


_SCALARS: dict[Any, Widget] = {
    Decimal: "number",
    int: "number",
    datetime: "moment",
    AwareDatetime: "moment",
}


def _enum_values(kind: Any) -> tuple[str, ...] | None:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return tuple(member.value for member in kind)
    return None


def _input(name: str, info: FieldInfo) -> Input:
    api_name = info.alias or name
    if api_name == CC_FIELD:
        return Input(api_name, "cc")
    kind = _unwrapped(info.annotation)
    if typing.get_origin(kind) in (list, tuple):
        values = _enum_values(_unwrapped(typing.get_args(kind)[0]))
        return Input(api_name, "lines") if values is None else Input(api_name, "choices", values)
    values = _enum_values(kind)
    if values is not None:
        return Input(api_name, "select", values)
    return Input(api_name, _SCALARS.get(kind, "text"))


def inputs_of(command: type[ExportCommand]) -> tuple[Input, ...]:
    """The inputs of an export request's form: its filters in the command's order, the CC
    list last."""
    found = [_input(name, info) for name, info in command.model_fields.items()]
    return (*(i for i in found if i.widget != "cc"), *(i for i in found if i.widget == "cc"))


@dataclass
class Posted:
    """A posted form read as a command's input: ``data`` (API names), the values to show
    again, and where the CC list's items came from (``cc[1]`` may be the third input)."""

    data: dict[str, Any] = field(default_factory=dict)
    shown: dict[str, Any] = field(default_factory=dict)
    cc_inputs: list[int] = field(default_factory=list)


def read_cc(form: FormData, posted: Posted) -> None:
    """The CC inputs, blank ones skipped (always given: an empty list sends no copy)."""
    given = [str(v).strip() for v in form.getlist(CC_FIELD)][: MAX_CC_RECIPIENTS * 2]
    posted.shown[CC_FIELD] = given
    posted.cc_inputs = [i for i, value in enumerate(given) if value]
    posted.data[CC_FIELD] = [given[i] for i in posted.cc_inputs]


def read(form: FormData, inputs: Sequence[Input], reader: Reader) -> Posted:
    """The form's values as the API would receive them; empty inputs are left out."""
    posted = Posted()
    for one in inputs:
        if one.widget == "cc":
            read_cc(form, posted)
            continue
        if one.widget == "choices":
            chosen = [str(v) for v in form.getlist(one.name)]
            posted.shown[one.name] = chosen
            if chosen:
                posted.data[one.name] = chosen
            continue
        text = str(form.get(one.name) or "").strip()
        posted.shown[one.name] = text
        if not text:
            continue
        if one.widget == "lines":
            posted.data[one.name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif one.widget == "moment":
            moment = reader.local_input(text)
            posted.data[one.name] = text if moment is None else moment.isoformat()
        else:
            posted.data[one.name] = text
    return posted


@dataclass(frozen=True, slots=True)
class Issues:
    """Field errors (or warnings) by the input they belong to: ``cc.2`` for the third CC
    input, an API name for any other; those that fit no input are ``general``."""

    by_input: Mapping[str, tuple[FieldIssue, ...]]
    general: tuple[FieldIssue, ...]

    @classmethod
    def of(
        cls, issues: Sequence[FieldIssue], inputs: Sequence[str], cc_inputs: Sequence[int] = ()
    ) -> Issues:
        by_input: dict[str, list[FieldIssue]] = {}
        general: list[FieldIssue] = []
        for issue in issues:
            name, _, rest = issue.field.partition("[")
            if name == CC_FIELD and rest:
                index = int(rest.split("]")[0])
                where = f"cc.{cc_inputs[index] if index < len(cc_inputs) else index}"
            elif name in inputs:
                where = name
            else:
                general.append(issue)
                continue
            by_input.setdefault(where, []).append(issue)
        return cls({k: tuple(v) for k, v in by_input.items()}, tuple(general))

    @classmethod
    def none(cls) -> Issues:
        return cls({}, ())

    def __bool__(self) -> bool:
        return bool(self.by_input or self.general)

    def at(self, where: str) -> tuple[FieldIssue, ...]:
        return self.by_input.get(where, ())

    def first_input(self) -> str | None:
        return next(iter(self.by_input), None)


def cc_rows(shown: Sequence[str], *, add: int = 0) -> list[str]:
    """The CC inputs to render: those shown, then spare empty ones, at most the limit."""
    spare = SPARE_CC_INPUTS + add
    return [*shown, *([""] * spare)][: max(MAX_CC_RECIPIENTS, len(shown))]


MAX_FORM_BYTES = 64 * 1024
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


class UnreadableForm(Exception):
    """A POST that is not a form this page sent: another media type, or too large."""


async def read_form(request: Request) -> FormData:
    """The posted form (``application/x-www-form-urlencoded``, the only kind these pages
    send; at most ``MAX_FORM_BYTES``)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise UnreadableForm("the form is too large")
    if body and media_type != FORM_MEDIA_TYPE:
        raise UnreadableForm(f"a form is sent as {FORM_MEDIA_TYPE}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnreadableForm("the form cannot be read") from exc
    return FormData([(name, value) for name, value in pairs])
