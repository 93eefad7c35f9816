"""List the caller's own exports, newest first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from export_resend.application.get_export import ExportDetails
from export_resend.application.validation import Command
from export_resend.domain.caller import Caller
from export_resend.domain.export import MAX_PAGE_SIZE, ExportQuery, ExportStatus, ExportType
from export_resend.domain.ports import Clock, UnitOfWorkFactory

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def _digits(value: object) -> object:
    # a query parameter is text: pydantic would also read "+5", " 5 ", "1_0" and "1.0"
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError("int_parsing", "must be a whole number written in digits")
    return value


QueryInt = Annotated[int, BeforeValidator(_digits)]
"""A whole number, given as decimal digits when it comes as text."""


class ListExportsCommand(Command):
    """Which page of the caller's exports, optionally of one type or effective status."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: ExportType | None = None
    status: ExportStatus | None = None
    page: QueryInt = Field(default=0, ge=0, le=1_000_000)
    size: QueryInt = Field(default=20, ge=1, le=MAX_PAGE_SIZE)


@dataclass(frozen=True, slots=True)
class ExportList:
    """One page of exports with their effective statuses, and how many match in all."""

    items: tuple[ExportDetails, ...]
    page: int
    size: int
    total: int


class ListExports:
    """The caller's exports (their tenant, their own), newest request first."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def __call__(self, caller: Caller, command: ListExportsCommand) -> ExportList:
        now = self._clock.now()
        query = ExportQuery(
            tenant_id=caller.tenant_id,
            owner_id=caller.user_id,
            type=command.type,
            status=command.status,
            page=command.page,
            size=command.size,
        )
        async with self._unit_of_work() as uow:
            found = await uow.exports.list(query, now)
        items = tuple(ExportDetails(e, e.effective_status(now)) for e in found.items)
        return ExportList(items, command.page, command.size, found.total)
