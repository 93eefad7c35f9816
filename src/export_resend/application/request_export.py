"""Request an export: a PENDING export and its generation job, queued together."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Self
from uuid import uuid4

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
from export_resend.application.idempotency import IdempotentResponse
from export_resend.application.resend_export_email import cc_warnings
from export_resend.application.validation import Command
from export_resend.domain.caller import Caller
from export_resend.domain.errors import ExportTypeNotServed
from export_resend.domain.export import Export, ExportType
from export_resend.domain.generation import GenerationJob
from export_resend.domain.ports import Clock, GenerationNotifier, UnitOfWorkFactory
from export_resend.domain.records import (
    BalanceAccountType,
    ExportFilters,
    FundingTransferFilters,
    FundingTransferStatus,
    TransactionEventFilters,
    TransactionEventStatus,
)

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
SupplierId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=128, strict=True, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$"
    ),
]
"""Any text but control characters: no supplier id holds one, and PostgreSQL cannot store a
NUL (the filters are kept as JSONB)."""


def _check_bounds(low: Any, high: Any, low_name: str, high_name: str) -> None:
    # raised as it is, through pydantic: an error of the whole model would name no field,
    # and the API names the upper bound
    if low is not None and high is not None and low > high:
        message = (
            f"must not be before {low_name}"
            if isinstance(low, datetime)
            else (f"must not be below {low_name}")
        )
        raise ValidationFailed([FieldIssue(FieldErrorCode.BAD_FORMAT.value, high_name, message)])


class ExportCommand(Command):
    """What every export request may say: who gets the email in copy.

    ``cc`` absent, ``null`` or ``[]`` means no copy. The request's own filters are the
    fields of its subclass; ``filters()`` returns them for the domain (``None``: all rows).
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


class TransactionEventsExportCommand(ExportCommand):
    """A transaction events export: by event status, amount and last update."""

    statuses: Annotated[list[TransactionEventStatus], Field(max_length=50)] | None = None
    amount_min: Amount | None = None
    amount_max: Amount | None = None
    updated_at_from: Moment | None = None
    updated_at_to: Moment | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        _check_bounds(self.amount_min, self.amount_max, "amountMin", "amountMax")
        _check_bounds(self.updated_at_from, self.updated_at_to, "updatedAtFrom", "updatedAtTo")
        return self

    def filters(self) -> TransactionEventFilters:
        return TransactionEventFilters(
            statuses=frozenset(self.statuses or ()),
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            updated_at_from=(self.updated_at_from),
            updated_at_to=(self.updated_at_to),
        )


class FundingTransfersExportCommand(ExportCommand):
    """A funding transfers export: by creation date, status, supplier, amount and the
    types of the source and target balance accounts."""

    created_at_from: Moment | None = None
    created_at_to: Moment | None = None
    statuses: Annotated[list[FundingTransferStatus], Field(max_length=50)] | None = None
    supplier_ids: Annotated[list[SupplierId], Field(max_length=100)] | None = None
    amount_min: Amount | None = None
    amount_max: Amount | None = None
    source_balance_account_type: BalanceAccountType | None = None
    target_balance_account_type: BalanceAccountType | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        _check_bounds(self.amount_min, self.amount_max, "amountMin", "amountMax")
        _check_bounds(self.created_at_from, self.created_at_to, "createdAtFrom", "createdAtTo")
        return self

    def filters(self) -> FundingTransferFilters:
        return FundingTransferFilters(
            created_at_from=(self.created_at_from),
            created_at_to=(self.created_at_to),
            statuses=frozenset(self.statuses or ()),
            supplier_ids=frozenset(self.supplier_ids or ()),
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            source_balance_account_type=self.source_balance_account_type,
            target_balance_account_type=self.target_balance_account_type,
        )


COMMANDS: dict[ExportType, type[ExportCommand]] = {
    ExportType.TRANSACTION_EVENTS: TransactionEventsExportCommand,
    ExportType.SUPPLIER_PAYOUTS: ExportCommand,
    ExportType.FUNDING_TRANSFERS: FundingTransfersExportCommand,
    ExportType.MARKETPLACE_PAYOUTS: ExportCommand,
}
"""The request body of each export type."""


def command_fields(export_type: ExportType) -> frozenset[str]:
    """The body fields an export type's request reads (as the API names them)."""
    model = COMMANDS[export_type]
    return frozenset(info.alias or name for name, info in model.model_fields.items())


@dataclass(frozen=True, slots=True)
class ExportRequested:
    """The PENDING export that was queued, and the CC addresses dropped on the way."""

    export: Export
    warnings: tuple[FieldIssue, ...]


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
        idempotency: IdempotentResponse[ExportRequested] | None = None,
    ) -> ExportRequested:
        """Queue the export; with ``idempotency``, its response is stored under the key in
        the same transaction."""
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
                await idempotency.record(uow, requested)
            await uow.commit()
        self._notifier.export_requested(export.id)
        log.info(
            "export %s requested: %s",
            export.id,
            export_type.value,
            extra={"export_id": str(export.id), "export_type": export_type.value},
        )
        return requested
