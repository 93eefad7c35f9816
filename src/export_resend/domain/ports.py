"""What the rules need from the outside world. Each adapter subclasses one of these.

Every port is async, and every adapter must honour the contract in its docstring; the
suites in ``export_resend.testing`` check that, so that a host service's own adapter can
be held to the same contract as ours.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import Caller
from export_resend.domain.delivery import Delivery, DeliveryKind, RecipientResult
from export_resend.domain.export import Export, ExportPage, ExportQuery
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
    unit of work holds, and returns how many. A record comes back exactly as stored.
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
    """Hands one message to a relay, in one transaction, to exactly ``email.recipients``.

    ``send`` returns one result per recipient, in envelope order. A refusal of some or all
    recipients, permanent (5xx) or for now (4xx), is a result, not an exception; a refusal
    of the whole message after the recipients were accepted gives every accepted recipient
    that refusal. ``send`` raises ``MailerUnavailable`` when the relay could not be reached,
    refused the sender or the login, or the transaction broke off before the relay
    confirmed it, in which case nothing may be
    assumed delivered (nor undelivered: a retry may deliver a message twice, with the same
    ``Message-ID``). Several ``send`` calls may run at once.

    ``close`` lets go of any connection held between sends; a later ``send`` still works.
    """

    async def send(self, email: OutgoingEmail) -> Sequence[RecipientResult]: ...

    async def close(self) -> None: ...


class Clock(Protocol):
    """The current time, as a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class ApiKeyStore(Protocol):
    """API keys by the SHA-256 hex digest of the whole key; the key itself is never stored.

    A key belongs to one user (tenant id and user id), who is stored with their first key.
    ``add`` raises ``UserMismatch`` when the record's caller names a stored user with another
    email, client type or supplier, and ``DuplicateId`` for a digest or a key id already
    stored (a ``None`` key id, of a key made before key ids, clashes with nothing); nothing
    is stored then. The record is stored as given.
    ``find_caller`` returns the caller of a stored key that is not revoked, else ``None``.
    What ``add``, ``revoke`` and ``record_use`` wrote is seen by every later call.
    ``list`` returns the record of every key, revoked ones included (only those of
    ``tenant_id`` if it is given), oldest ``created_at`` first, ties in the same order on
    every call.
    ``revoke`` sets the ``revoked_at`` of the key with id ``key_id`` to ``at`` and returns
    its record; a key revoked before keeps its first ``revoked_at``; an unknown key id
    raises ``UnknownId``.
    ``record_use`` sets the key's ``last_used_at`` to ``at`` unless it is already at or
    after ``unless_used_since``, in one atomic step, so that processes racing on one key
    write once per period; an unknown digest is no error.
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

    Must return at once and never raise: the delivery is already safe in the outbox, and
    a missed notice only delays it until a dispatcher next looks.
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
    """The host's data: the rows of each export type, one method per type.

    A source serves the export types whose method it has (``row_source_types``): a host
    with one type implements that method only. Each method yields every record within
    ``scope`` (one tenant, and one supplier when ``scope.supplier_id`` is set: for funding
    transfers, those where the supplier's balance account is the source or the target) that
    ``filters`` match, in a stable order, one at a time, with every datetime aware UTC.
    The same arguments over the same data yield the same records. Any exception fails the
    export, with the exception's type as the reason; a generation cut off by a crash starts
    over from the first record.
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
    """Export files by key (``checked_file_key``: letters, digits, ``.``, ``_`` and ``-``,
    starting with a letter or a digit, at most 200; every method raises ``ValueError`` for
    any other key).

    ``writer(key)`` is an async context manager giving a ``FileWriter``: what is written is
    stored under ``key`` only when ``commit()`` is called, whole (a reader never sees part
    of a file); leaving the block without it (or with an exception) discards it all and
    leaves any file already under ``key`` as it was. Committing over an existing key
    replaces it whole.
    ``open(key)`` raises ``FileMissing`` for an unknown key; otherwise it returns the bytes
    in chunks of at most 64 KiB, as they were when ``open`` returned, even if the file is
    deleted or replaced meanwhile. Iterate it to the end, or ``aclose()`` it.
    ``delete(key)`` removes a file; an unknown key is no error.
    Several writers, readers and deletes may run at once, on different or the same keys.
    """

    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]: ...

    async def open(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


class GenerationNotifier(Protocol):
    """Told, after commit, that an export was requested, so that it is generated at once.

    Must return at once and never raise: the job is already safe in the queue, and a
    missed notice only delays it until a generator next looks.
    """

    def export_requested(self, export_id: UUID) -> None: ...
