"""Every port: what the rules need from the outside world. Each adapter subclasses one.

Every adapter must honour the contract in its port's docstring; the suites in
``export_resend.testing`` check that, so that a host service's own adapter can be held to
the same contract as ours. Ports that reach a store, a relay or a network are async.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self, TypeVar
from uuid import UUID

from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.delivery import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
)
from export_resend.domain.export import Export, ExportPage, ExportQuery, ExportStatus
from export_resend.domain.generation import GenerationJob
from export_resend.domain.idempotency import IdempotencyKey, IdempotencyRecord
from export_resend.domain.records import (
    ExportScope,
    FundingTransfer,
    FundingTransferFilters,
    MarketplacePayout,
    SupplierPayout,
    TransactionEvent,
    TransactionEventFilters,
)


class DuplicateId(Exception):
    """``add`` was given an id that is already stored (found at once, or at commit)."""


class UnknownId(Exception):
    """``update`` was given an id that is not stored."""


class ConcurrentUpdate(Exception):
    """Another unit of work won: an export's stored version has moved on since it was read,
    or two units of work waited for each other's locks and this one was refused. It commits
    nothing more: leave it, and try again from a fresh read."""


class FileMissing(Exception):
    """``FileStore.open`` was given a key under which nothing is stored."""


class UserMismatch(Exception):
    """``ApiKeyStore.add`` was given a caller whose user is stored with other details."""


class StorageUnavailable(Exception):
    """The storage cannot serve now (down, unreachable, refusing connections, no pooled
    connection free in time, or the connection lost midway): nothing the unit of work had
    not committed was kept, and a commit cut off so may or may not have been made. Try
    again later."""


class MailerUnavailable(Exception):
    """The relay could not take the message now (connection lost, 4xx for all): try later."""


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in a queue: how many items, how many of them are due now (not waiting
    for a retry or for a lease to end), and when the oldest was queued (``None``: empty)."""

    waiting: int
    due: int
    oldest_queued_at: datetime | None


class ExportRepository(Protocol):
    """Exports, inside one unit of work (see ``UnitOfWork`` for ``lock`` and visibility).

    ``get``: ``None`` for an unknown id. ``add``: ``DuplicateId`` for a stored id.
    ``update``: stores ``export`` if its ``version`` is the stored one and returns it at
    ``version + 1``; else ``ConcurrentUpdate`` (``UnknownId`` for an unknown id).
    ``list``: one page of ``query`` by effective status at ``now``, newest ``requested_at``
    first (ties: highest id first), with the count of all matches. ``expired``: up to
    ``limit`` exports stored READY whose ``expires_at`` is at or before ``now``, earliest
    first (ties by id).
    """

    async def get(self, export_id: UUID, *, lock: bool = False) -> Export | None: ...

    async def add(self, export: Export) -> None: ...

    async def update(self, export: Export) -> Export: ...

    async def list(self, query: ExportQuery, now: datetime) -> ExportPage: ...

    async def expired(self, now: datetime, limit: int) -> Sequence[Export]: ...


class DeliveryRepository(Protocol):
    """The outbox, one record per email, inside one unit of work.

    ``get``: ``None`` for an unknown id. ``add``: ``DuplicateId``; ``update``: ``UnknownId``.
    ``list_for_export``: an export's deliveries, oldest ``queued_at`` first (ties by id).
    ``queued_since``: the ``queued_at`` of its deliveries of ``kind`` after ``since``, oldest
    first. ``claim``: up to ``limit`` deliveries due at ``now`` (``Delivery.is_due``),
    earliest ``next_attempt_at`` first (ties by id), stored and returned as
    ``claimed(lease_id, now, lease)``; it never takes one that another open unit of work
    holds (it skips it; a store locked as a whole may wait instead), so no two processes
    claim one delivery before its lease ends. ``backlog``: the QUEUED and SENDING ones: how
    many, how many due at ``now``, and the oldest ``queued_at``.
    """

    async def get(self, delivery_id: UUID, *, lock: bool = False) -> Delivery | None: ...

    async def add(self, delivery: Delivery) -> None: ...

    async def update(self, delivery: Delivery) -> None: ...

    async def list_for_export(self, export_id: UUID) -> Sequence[Delivery]: ...

    async def queued_since(
        self, export_id: UUID, kind: DeliveryKind, since: datetime
    ) -> Sequence[datetime]: ...

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[Delivery]: ...

    async def backlog(self, now: datetime) -> Backlog: ...


class GenerationJobRepository(Protocol):
    """The queue of exports to generate, one job per PENDING export, inside one unit of work.

    ``get``: ``None`` for an unknown export id. ``add``: ``DuplicateId`` for an export that
    has a job; ``update``: ``UnknownId``; ``remove``: an unknown one is no error. ``claim``
    and ``backlog`` are the outbox's (ties by export id; every job waits), a claim counting
    one more attempt (``GenerationJob.claimed``).
    """

    async def get(self, export_id: UUID, *, lock: bool = False) -> GenerationJob | None: ...

    async def add(self, job: GenerationJob) -> None: ...

    async def update(self, job: GenerationJob) -> None: ...

    async def remove(self, export_id: UUID) -> None: ...

    async def claim(
        self, now: datetime, lease_id: UUID, lease: timedelta, limit: int
    ) -> Sequence[GenerationJob]: ...

    async def backlog(self, now: datetime) -> Backlog: ...


class IdempotencyKeyRepository(Protocol):
    """Idempotency keys and what is stored under them, inside one unit of work.

    ``get``: ``None`` for an unknown key, expired or not. ``add``: ``DuplicateId`` for a
    stored key, so of two units of work adding one key only one commits. ``update``:
    ``UnknownId``; ``remove``: an unknown key is no error. ``purge``: deletes up to
    ``limit`` records whose ``expires_at`` is at or before ``now``, skipping any another
    unit of work holds, and returns how many. A record (its JSON ``result`` too) comes
    back exactly as stored.
    """

    async def get(self, key: IdempotencyKey, *, lock: bool = False) -> IdempotencyRecord | None: ...

    async def add(self, record: IdempotencyRecord) -> None: ...

    async def update(self, record: IdempotencyRecord) -> None: ...

    async def remove(self, key: IdempotencyKey) -> None: ...

    async def purge(self, now: datetime, limit: int) -> int: ...


class UnitOfWork(Protocol):
    """One transaction: what is written through it is committed together by ``commit()``, or
    not at all (leaving the ``async with`` without it). Writes are seen inside at once, and
    by others once committed. Used once: after ``commit()`` every call raises
    ``RuntimeError``.

    Locks mean the same in every repository: ``get`` with ``lock=True`` of a stored row,
    ``update`` and ``remove`` hold that row until the unit of work ends, and another's
    locked ``get``, ``update`` or ``remove`` of it waits until then (claims skip it). Of
    two that would wait for each other, one raises ``ConcurrentUpdate``. Read with
    ``lock=True`` what you will write.
    """

    exports: ExportRepository
    deliveries: DeliveryRepository
    jobs: GenerationJobRepository
    idempotency: IdempotencyKeyRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work for each use."""

    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A rendered message with its envelope, which is never re-read from the headers."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage


class Mailer(Protocol):
    """``send`` hands one message to a relay, in one transaction, to exactly
    ``email.recipients``, and returns one result per recipient in that order: refusals are
    results (a refusal of the whole message is each accepted recipient's). Raises
    ``MailerUnavailable`` when the relay could not be reached, refused the sender or login,
    or broke off before confirming (nothing may be assumed either way). Sends may overlap;
    ``close`` lets go of held connections, and a later ``send`` still works.
    """

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]: ...

    async def close(self) -> None: ...


class Clock(Protocol):
    """The current time, as a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class ApiKeyStore(Protocol):
    """API keys by the SHA-256 digest of the key, never the key. ``add`` stores a user with
    their first key: ``UserMismatch`` if a later key names them otherwise, ``DuplicateId``
    for a stored digest or key id. ``find_caller``: the caller of an unrevoked key, else
    ``None``. ``list``: oldest first (by tenant if given). ``revoke``: keeps the first
    ``revoked_at``, ``UnknownId`` if unknown. ``record_use``: writes ``last_used_at`` only if
    older than ``unless_used_since``, atomically. Every write is seen by every later call.
    """

    async def find_caller(self, key_sha256: str) -> Caller | None: ...

    async def add(self, key_sha256: str, record: ApiKeyRecord) -> None: ...

    async def list(self, tenant_id: str | None = None) -> Sequence[ApiKeyRecord]: ...

    async def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord: ...

    async def record_use(
        self, key_sha256: str, at: datetime, *, unless_used_since: datetime
    ) -> None: ...


class DeliveryNotifier(Protocol):
    """Told, after commit, that a delivery is queued, so that it is sent without delay.
    Returns at once and never raises: a missed notice only waits for the next poll.
    """

    def delivery_queued(self, delivery_id: UUID) -> None: ...


class TransactionEventRows(Protocol):
    """A source of transaction events (``RowSource`` says what every source honours)."""

    def transaction_events(
        self, scope: ExportScope, filters: TransactionEventFilters
    ) -> AsyncIterator[TransactionEvent]: ...


class SupplierPayoutRows(Protocol):
    """A source of supplier payouts (``RowSource`` says what every source honours)."""

    def supplier_payouts(self, scope: ExportScope) -> AsyncIterator[SupplierPayout]: ...


class FundingTransferRows(Protocol):
    """A source of funding transfers (``RowSource`` says what every source honours)."""

    def funding_transfers(
        self, scope: ExportScope, filters: FundingTransferFilters
    ) -> AsyncIterator[FundingTransfer]: ...


class MarketplacePayoutRows(Protocol):
    """A source of marketplace payouts (``RowSource`` says what every source honours)."""

    def marketplace_payouts(self, scope: ExportScope) -> AsyncIterator[MarketplacePayout]: ...


class RowSource(
    TransactionEventRows, SupplierPayoutRows, FundingTransferRows, MarketplacePayoutRows, Protocol
):
    """The host's data, one method per export type (a source serves the types it has a
    method for). Each yields, one at a time and in a stable order, every record within
    ``scope`` (a tenant, and a supplier if set) that ``filters`` match, datetimes aware UTC.
    Any exception fails the export; a generation cut off starts over from the first record.
    """


AnyRowSource = (
    TransactionEventRows | SupplierPayoutRows | FundingTransferRows | MarketplacePayoutRows
)
"""A source of at least one export type's rows."""


_FILE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def checked_file_key(key: str) -> str:
    """``key`` if it is a valid ``FileStore`` key, else ``ValueError``: 1 to 200 letters,
    digits, ``.``, ``_`` or ``-``, starting with a letter or a digit (so no path, and no
    hidden file)."""
    if not _FILE_KEY.fullmatch(key):
        raise ValueError(f"not a file key (letters, digits, '.', '_', '-'; no path): {key!r}")
    return key


class FileWriter(Protocol):
    """One file being written. Nothing is visible under its key until ``commit``."""

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None: ...


class FileStore(Protocol):
    """Export files by key (``ValueError`` unless ``checked_file_key`` accepts it).
    ``writer(key)``: what is written is stored, whole, only at ``commit()``; leaving without
    it changes nothing. ``open(key)``: ``FileMissing`` if unknown, else chunks of at most
    64 KiB of the file as it was when opened. ``delete`` is idempotent. Any of them may
    overlap, on any keys.
    """

    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]: ...

    async def open(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


class GenerationNotifier(Protocol):
    """Told, after commit, that an export was requested, so that it is generated at once.
    Returns at once and never raises: a missed notice only waits for the next poll.
    """

    def export_requested(self, export_id: UUID) -> None: ...


class DownloadLinks(Protocol):
    """Signed download links: a link's token is the only credential a download needs.
    ``url_for`` mints a new link to the export's file (a new token on every call);
    ``export_id`` gives the export a token minted here names, and ``None`` for any other
    string (altered, signed elsewhere, not a token), never raising. A token holds no expiry.
    """

    def url_for(self, export: Export) -> str: ...

    def export_id(self, token: str) -> UUID | None: ...


class EmailComposer(Protocol):
    """The "your export is ready" email of one delivery, dated ``now``, carrying ``link``:
    headers exactly From, To, Cc (only if any), Subject, Date, the delivery's Message-ID,
    Auto-Submitted and the MIME ones; no user text in a header but the validated addresses;
    no Bcc; the envelope is ``delivery.recipients``. Raises when it cannot be composed.
    """

    def compose(
        self, export: Export, delivery: Delivery, link: str, now: datetime
    ) -> OutgoingEmail: ...


class DatabaseProbe(Protocol):
    """``ping`` returns once the database has answered a trivial query, and raises if it
    cannot (unreachable, refusing, broken). It may take as long as the database does."""

    async def ping(self) -> None: ...


T_co = TypeVar("T_co", covariant=True)


class BoundedCall(Protocol[T_co]):
    """One call, waited for at most ``timeout`` seconds: its result or its exception, else
    ``TimeoutError``. At most one call runs at a time: until an overrun one has ended, later
    callers wait on it rather than start another (a hung database holds one connection).
    """

    @property
    def timeout(self) -> float: ...

    def __call__(self) -> Awaitable[T_co]: ...


class SendResult(StrEnum):
    """How one attempt to hand a delivery to the relay ended."""

    ACCEPTED = "accepted"
    """The relay accepted every address tried."""
    TRANSIENT = "transient"
    """The relay refused some address for now (4xx): it is tried again later."""
    PERMANENT = "permanent"
    """The relay refused some address for good (5xx), and none for now."""
    UNAVAILABLE = "unavailable"
    """The relay could not be reached, refused the sender or the login, or broke off."""
    ERROR = "error"
    """The mailer itself failed (a bug): counted as an attempt, tried again later."""

    @classmethod
    def of(cls, results: Sequence[RecipientResult]) -> SendResult:
        """The worst answer among ``results``: for now, then for good, then accepted."""
        outcomes = {r.outcome for r in results}
        if RecipientOutcome.REFUSED_TRANSIENTLY in outcomes:
            return cls.TRANSIENT
        if RecipientOutcome.REFUSED_PERMANENTLY in outcomes:
            return cls.PERMANENT
        return cls.ACCEPTED


class DeliveryMetrics(Protocol):
    """Told what each send attempt came to (``recipients``: the relay's answers, if any) and
    each outcome recorded (SENT, QUEUED again, DEAD). Like every metrics port, returns at
    once and never raises: metrics never fail a send, a generation or a request.
    """

    def send_attempted(
        self, result: SendResult, seconds: float, recipients: Sequence[RecipientResult]
    ) -> None: ...

    def delivery_recorded(self, status: DeliveryStatus) -> None: ...


class GenerationMetrics(Protocol):
    """Told how each generation ended (READY or FAILED) and how long it took, file
    included. Returns at once and never raises."""

    def generation_recorded(self, status: ExportStatus, seconds: float) -> None: ...


class RequestMetrics(Protocol):
    """Told of every HTTP request answered (``route``: its path template, ``None`` when none
    matched) and of every resend answered (``outcome``: ``accepted``, ``replayed`` or the
    refusal's problem code). Returns at once and never raises.
    """

    def request_handled(
        self, method: str, route: str | None, status: int, seconds: float
    ) -> None: ...

    def resend_answered(self, outcome: str) -> None: ...


@dataclass(frozen=True, slots=True)
class QueueReading:
    """The queues as read for one scrape, at ``at``; ``None`` for a queue that could not be
    read (the database did not answer in time)."""

    at: datetime
    outbox: Backlog | None
    generation: Backlog | None


@dataclass(frozen=True, slots=True)
class Exposition:
    """A metrics page, ready to serve: its bytes and their media type."""

    body: bytes
    media_type: str


class MetricsExposition(Protocol):
    """``render`` gives the page of every metric counted so far, with the queues as
    ``reading`` found them; it waits on nothing, and concurrent scrapes each get a
    consistent page."""

    def render(self, reading: QueueReading) -> Exposition: ...
