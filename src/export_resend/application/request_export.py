"""Request an export: a PENDING export and its generation job, queued together.

The body of each export type's request is derived from the domain's catalogue
(``domain/export_types.py``): the CC list, and one field per field of the type's filters,
read from JSON as the Python type of that field says (``_wire_type``). A new export type
needs nothing here, unless its filters hold a type of value no filter held before.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import (
    Annotated,
    Any,
    ClassVar,
    Optional,
    Self,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from export_resend.application.addresses import CcList
from export_resend.application.errors import FieldErrorCode, FieldIssue, ValidationFailed
from export_resend.application.idempotency import Claim
from export_resend.application.resend_export_email import cc_warnings
from export_resend.application.validation import Command
from export_resend.domain.caller import Caller
from export_resend.domain.errors import ExportTypeNotServed
from export_resend.domain.export import Export, ExportStatus, ExportType
from export_resend.domain.export_types import KINDS, ExportKind
from export_resend.domain.generation import GenerationJob
from export_resend.domain.idempotency import Result
from export_resend.domain.ports import Clock, GenerationNotifier, UnitOfWorkFactory
from export_resend.domain.records import ExportFilters

log = logging.getLogger(__name__)

Amount = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=20, decimal_places=6)]


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC moment
        raise PydanticCustomError("datetime_range", "is out of the range of dates") from None


_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_text(value: object) -> object:
    # pydantic would also read a number, or a string of digits, as a Unix time: the API's
    # dates are ISO 8601 text (the document's format: date-time), so refuse those
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TEXT.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_type",
        "must be an ISO 8601 date and time with a zone, such as 2026-01-31T00:00:00Z",
    )


Moment = Annotated[AwareDatetime, BeforeValidator(_date_text), AfterValidator(_in_utc)]
"""A date with a zone, given as ISO 8601 text (or a ``datetime``), given back in UTC."""
Identifier = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=128, strict=True, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$"
    ),
]
"""Any text but control characters: no identifier (a supplier id) holds one, and PostgreSQL
cannot store a NUL (the filters are kept as JSONB)."""
MAX_NAMES = 50
"""The most values of a value set (statuses) one filter may list."""
MAX_IDENTIFIERS = 100
"""The most identifiers (supplier ids) one filter may list."""
_BOUNDS = (("_min", "_max"), ("_from", "_to"))
"""A field ``x_min`` (or ``x_from``) is the lower bound of the ``x_max`` (``x_to``) beside it."""


def _check_bounds(low: Any, high: Any, low_name: str, high_name: str) -> FieldIssue | None:
    if low is None or high is None or low <= high:
        return None
    relation = "before" if isinstance(low, datetime) else "below"
    return FieldIssue(
        FieldErrorCode.BAD_FORMAT.value, high_name, f"must not be {relation} {low_name}"
    )


class ExportCommand(Command):
    """What every export request may say: who gets the email in copy.

    ``cc`` absent, ``null`` or ``[]`` means no copy. The command of a type with filters
    (``command_of``) adds one field per filter; ``filters()`` returns them for the domain
    (``None``: all rows).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    cc: CcList | None = None

    def filters(self) -> ExportFilters | None:
        return None


class FilteredExportCommand(ExportCommand):
    """The base of the commands ``command_of`` derives from a type's filters."""

    filters_type: ClassVar[type[ExportFilters]]
    set_fields: ClassVar[frozenset[str]] = frozenset()
    """The filters' sets, given as JSON arrays."""
    bounds: ClassVar[tuple[tuple[str, str], ...]] = ()
    """Pairs of fields, the lower bound then the upper one."""

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        # raised as it is, through pydantic: an error of the whole model would name no
        # field, and the API names the upper bound
        issues = [
            issue
            for low, high in self.bounds
            if (
                issue := _check_bounds(
                    getattr(self, low), getattr(self, high), to_camel(low), to_camel(high)
                )
            )
        ]
        if issues:
            raise ValidationFailed(issues)
        return self

    def filters(self) -> ExportFilters:
        values = {
            field.name: getattr(self, field.name) for field in dataclasses.fields(self.filters_type)
        }
        for name in self.set_fields:
            values[name] = frozenset(values[name] or ())
        return self.filters_type(**values)


def _wire_type(hint: Any) -> Any:
    """How a filter field of type ``hint`` is read from JSON; always optional."""
    args = get_args(hint)
    if get_origin(hint) is frozenset:
        (member,) = args
        if isinstance(member, type) and issubclass(member, StrEnum):
            names = types.GenericAlias(list, (member,))
            return Optional[Annotated[names, Field(max_length=MAX_NAMES)]]  # noqa: UP045
        if member is str:
            return Optional[Annotated[list[Identifier], Field(max_length=MAX_IDENTIFIERS)]]  # noqa: UP045
    elif get_origin(hint) in (Union, types.UnionType) and type(None) in args:
        (value,) = (arg for arg in args if arg is not type(None))
        if value is Decimal:
            return Optional[Amount]  # noqa: UP045
        if value is datetime:
            return Optional[Moment]  # noqa: UP045
        if isinstance(value, type) and issubclass(value, StrEnum):
            return Optional[value]  # noqa: UP045
    raise TypeError(f"no request field reads a filter of type {hint!r}: add it to _wire_type")


def _filtered_command(kind: ExportKind, filters: type[ExportFilters]) -> type[ExportCommand]:
    hints = get_type_hints(filters)
    names = [field.name for field in dataclasses.fields(filters)]
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"A {kind.label} export request: the CC list, and the filters of its rows.",
        "__annotations__": {name: _wire_type(hints[name]) for name in names},
        "filters_type": filters,
        "set_fields": frozenset(n for n in names if get_origin(hints[n]) is frozenset),
        "bounds": tuple(
            (name, name.removesuffix(low) + high)
            for name in names
            for low, high in _BOUNDS
            if name.endswith(low) and name.removesuffix(low) + high in names
        ),
        **dict.fromkeys(names),
    }
    name = kind.slug.title().replace("-", "") + "ExportCommand"
    return types.new_class(name, (FilteredExportCommand,), {}, lambda ns: ns.update(namespace))


@functools.cache
def derived_command(kind: ExportKind) -> type[ExportCommand]:
    """The body of a request for an export of ``kind``: ``ExportCommand`` for a kind without
    filters, else a command with a field for each of its filters."""
    return ExportCommand if kind.filters is None else _filtered_command(kind, kind.filters)


def command_of(export_type: ExportType) -> type[ExportCommand]:
    """The body of a request for an export of ``export_type`` (``derived_command``)."""
    return derived_command(KINDS[export_type])


COMMANDS: Mapping[ExportType, type[ExportCommand]] = types.MappingProxyType(
    {export_type: command_of(export_type) for export_type in ExportType}
)
"""The request body of each export type, derived from the catalogue."""
TransactionEventsExportCommand = command_of(ExportType.TRANSACTION_EVENTS)
FundingTransfersExportCommand = command_of(ExportType.FUNDING_TRANSFERS)


def command_fields(export_type: ExportType) -> frozenset[str]:
    """The body fields an export type's request reads (as the API names them)."""
    model = command_of(export_type)
    return frozenset(info.alias or name for name, info in model.model_fields.items())


@dataclass(frozen=True, slots=True)
class ExportRequestSummary:
    """What an export request did, in plain data: what its answer says, and what it records
    under an idempotency key, so that a retry is answered exactly as the first request was."""

    export_id: UUID
    export_type: ExportType
    status: ExportStatus
    requested_at: datetime
    cc: tuple[str, ...]
    warnings: tuple[FieldIssue, ...]

    def as_data(self) -> dict[str, Any]:
        """This summary as JSON data."""
        return {
            "export_id": str(self.export_id),
            "export_type": self.export_type.value,
            "status": self.status.value,
            "requested_at": self.requested_at.isoformat(),
            "cc": list(self.cc),
            "warnings": [dataclasses.asdict(w) for w in self.warnings],
        }

    @classmethod
    def from_data(cls, data: Result) -> ExportRequestSummary:
        """The summary ``as_data`` gave."""
        return cls(
            export_id=UUID(data["export_id"]),
            export_type=ExportType(data["export_type"]),
            status=ExportStatus(data["status"]),
            requested_at=datetime.fromisoformat(data["requested_at"]),
            cc=tuple(data["cc"]),
            warnings=tuple(FieldIssue(**w) for w in data["warnings"]),
        )


@dataclass(frozen=True, slots=True)
class ExportRequested:
    """The PENDING export that was queued, and the CC addresses dropped on the way."""

    export: Export
    warnings: tuple[FieldIssue, ...]

    @property
    def summary(self) -> ExportRequestSummary:
        """What this request did, in plain data."""
        export = self.export
        return ExportRequestSummary(
            export_id=export.id,
            export_type=export.type,
            status=export.status,
            requested_at=export.requested_at,
            cc=export.cc,
            warnings=self.warnings,
        )


class RequestExport:
    """Queue an export of ``export_type`` for the caller, with its generation job, in one
    transaction; then tell the generator.

    Raises ``ExportTypeNotAllowed`` when the caller's kind of client may not request that
    type (``check_allowed`` says so before the body is even read). Filters that contradict
    each other never get here: building such a command raises ``ValidationFailed``.
    """

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        notifier: GenerationNotifier,
        export_types: Collection[ExportType] = tuple(ExportType),
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._notifier = notifier
        self._export_types = frozenset(export_types)

    def check_allowed(self, caller: Caller, export_type: ExportType) -> None:
        """Raise ``ExportTypeNotServed`` unless this service generates ``export_type`` (its
        row source has the method), then ``ExportTypeNotAllowed`` unless the caller may
        request it."""
        self._check_served(export_type)
        Export.check_requestable(caller, export_type)

    def _check_served(self, export_type: ExportType) -> None:
        if export_type not in self._export_types:
            raise ExportTypeNotServed(export_type.label)

    async def __call__(
        self,
        caller: Caller,
        export_type: ExportType,
        command: ExportCommand,
        *,
        idempotency: Claim | None = None,
    ) -> ExportRequested:
        """Queue the export; with ``idempotency`` (a claimed key), the summary of what was
        queued is recorded under the key in the same transaction."""
        self._check_served(export_type)
        now = self._clock.now()
        export, cc = Export.request(
            export_id=uuid4(),
            caller=caller,
            export_type=export_type,
            cc=command.cc or (),
            filters=command.filters(),
            now=now,
        )
        requested = ExportRequested(export, cc_warnings("cc", cc))
        async with self._unit_of_work() as uow:
            await uow.exports.add(export)
            await uow.jobs.add(GenerationJob.queue(export.id, now))
            if idempotency is not None:
                await idempotency.record(uow, requested.summary.as_data())
            await uow.commit()
        self._notifier.export_requested(export.id)
        log.info(
            "export %s requested: %s",
            export.id,
            export_type.value,
            extra={"export_id": str(export.id), "export_type": export_type.value},
        )
        return requested
