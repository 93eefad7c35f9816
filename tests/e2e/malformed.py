"""Malformed requests for every route, and what the service may answer to each.

``requests(stage)`` draws a request as a hostile or careless client could send it: any
route (and a few that are not routes), any method, credentials missing, wrong, odd,
non-ASCII or sent twice, odd content types, an ``Idempotency-Key`` of any shape, honest or
lying lengths, bodies of random bytes, JSON of the wrong types for each field, deep
nesting, huge numbers, lone surrogates, duplicate keys, hostile addresses, sizes about the
64 KiB limit, cut into chunks anywhere.

``Stage.check(request, response, before)`` holds the answer to the rules: never a 5xx; a
refusal is a problem with a stable code and leaves the outbox, the exports and the jobs as
they were; a success comes only from a request that was valid (judged here, from the
request alone) and queues exactly what it says.

``build_stage(container, count)`` sets the stage on any container, in memory or on a SQL
database, and ``fuzz(runner, stage, examples)`` runs it: the requests, each answer held to
the rules, then every export queued generated and every email queued sent, as queued, with
no warning or error logged. tests/e2e/test_security_matrix.py runs it in memory,
tests/integration/test_fuzz_on_sql.py on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp

from export_resend.adapters.memory import InMemoryMailer
from export_resend.container import Container
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.delivery import Delivery, DeliveryKind, DeliveryStatus
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.main import create_app
from tests.conftest import issue_key
from tests.e2e import asgi
from tests.e2e.asgi import RawResponse
from tests.e2e.conftest import OLIVIA, OTTO, SAM
from tests.e2e.test_exports_http import ROUTES as REQUEST_PATHS
from tests.factories import caller, export

LIMIT = 64 * 1024
PROBLEM_STATUS = {
    "VALIDATION_FAILED": 400,
    "INVALID_JSON": 400,
    "CLIENT_DISCONNECTED": 400,
    "UNAUTHENTICATED": 401,
    "CLIENT_NOT_ALLOWED": 403,
    "EXPORT_FORBIDDEN": 403,
    "EXPORT_TYPE_NOT_ALLOWED": 403,
    "EXPORT_NOT_FOUND": 404,
    "ROUTE_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "EXPORT_NOT_READY": 409,
    "IDEMPOTENCY_KEY_IN_USE": 409,
    "EXPORT_EXPIRED": 410,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "RATE_LIMITED": 429,
}
"""Every stable problem code (SPEC §3 and docs), with its status: written out, not imported."""

ALLOWED = {  # SPEC §2, written out here rather than read from the code
    ClientType.OPERATOR: set(ExportType),
    ClientType.SUPPLIER: {ExportType.TRANSACTION_EVENTS, ExportType.FUNDING_TRANSFERS},
    ClientType.ACCOUNT: set(),
}
"""Which export types each kind of client may request."""
LIST_FIELDS = {"cc": 20, "statuses": 50, "supplierIds": 100}
NUMBER_FIELDS = {"amountMin", "amountMax"}
DATE_FIELDS = {"updatedAtFrom", "updatedAtTo", "createdAtFrom", "createdAtTo"}
TEXT_FIELDS = {"sourceBalanceAccountType", "targetBalanceAccountType"}
FREE_TEXT_FIELDS = {"supplierIds"}
"""The fields whose text is stored as it is given (no address, date, amount or set of names
holds it), so that every database must take whatever character they accept."""
FIELDS = {
    "resend": {"cc"},
    ExportType.TRANSACTION_EVENTS: {"cc", "statuses", "amountMin", "amountMax"}
    | {"updatedAtFrom", "updatedAtTo"},
    ExportType.SUPPLIER_PAYOUTS: {"cc"},
    ExportType.FUNDING_TRANSFERS: {"cc", "statuses", "supplierIds", "amountMin", "amountMax"}
    | {"createdAtFrom", "createdAtTo"}
    | TEXT_FIELDS,
    ExportType.MARKETPLACE_PAYOUTS: {"cc"},
}
"""The fields each POST reads (any other is ignored), as the API documents them."""

HOSTILE_ADDRESSES = [
    "a@x.io\r\nBcc: spy@evil.example",
    "a@x.io\nBcc: spy@evil.example",
    "a@x.io\rX",
    "a@x.io\0",
    "=?utf-8?q?spy=40evil.example?=",
    "=?utf-8?q?spy?=@x.io",
    "=?utf-8?b?Qm9zcw==?= <spy@evil.example>",
    "Boss <spy@evil.example>",
    "a@x.io, spy@evil.example",
    "a@x.io\u2028Bcc: spy@evil.example",
    "spy@evil.example\x85",
    "",
    "@",
    "a@@x.io",
]
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_HEADER_BREAKERS = re.compile(r"[\s<>()\[\]\\,;:\"@]|=\?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe_address(address: str, *, ascii_only: bool) -> bool:
    """One ``@`` between an ASCII local part and a domain, nothing that could end or fold a
    header, start an encoded word or add a recipient; ASCII only once it is normalised."""
    local, at, domain = address.rpartition("@")
    return bool(
        at
        and _LOCAL_PART.fullmatch(local)
        and domain
        and address.isprintable()
        and not _HEADER_BREAKERS.search(local)
        and not _HEADER_BREAKERS.search(domain)
        and (address.isascii() or not ascii_only)
    )


def _same_address(queued: str, asked: str) -> bool:
    """``queued`` is ``asked`` as the service normalises it: the domain in lower case, or in
    its IDNA form."""
    if queued.casefold() == asked.casefold():
        return True
    return queued.rpartition("@")[0] == asked.rpartition("@")[0] and not asked.isascii()


_SPECIAL_BODIES = [
    b"",
    b"   \r\n\t",
    b"null",
    b"{}",
    b"[]",
    b'""',
    b"0",
    b"true",
    b"{",
    b'{"cc": [}',
    b"{'cc': []}",
    b'{"cc": []} trailing',
    b'{"cc": [],}',
    b'{"cc": [], "cc": null}',
    b'{"cc": null, "cc": ["a@x.io"]}',
    b'{"cc": NaN}',
    b'{"amountMin": Infinity}',
    b'{"amountMin": -Infinity}',
    b'{"amountMin": 1e400}',
    b'{"amountMin": 1' + b"0" * 5000 + b"}",
    b'{"page": ' + b"9" * 400 + b"}",
    b'{"cc": ["\\ud800@x.io"]}',
    b'{"\\udfff": 1}',
    b'{"cc": ["\\u0000@x.io"]}',
    b'{"cc": ["a@x.io\\r\\nBcc: spy@evil.example"]}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b'{"cc": ["\xc3\x28@x.io"]}',
    b"[" * 100_000,
    b'{"cc": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"cc": ' + b"[" * 500 + b"]" * 500 + b"}",
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"statuses": [' + b'"PAID",' * 2000 + b'"PAID"]}',
    b'{"cc": [' + b'"a@x.io",' * 21 + b'"b@x.io"]}',
]

_CLIENT_VALUES = [
    b"OPERATOR",
    b"SUPPLIER",
    b"ACCOUNT",
    b"operator",
    b"",
    b" ",
    b"ADMIN",
    b"OPERATOR\x00",
    "OPÉRATEUR".encode(),
    b"\xff\xfe",
    b"OPERATOR, OPERATOR",
]
_CONTENT_TYPES = [
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/json; charset=UTF-8",
    b'application/json; charset="utf-8"',
    b"application/merge-patch+json",
    b"APPLICATION/JSON",
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"application/json; charset=latin-1",
    b"application/json; charset=utf-16",
    b"application/jsonx",
    b"json",
    b"",
    b"application/json;;;",
    b"application/json\x00",
    "application/json; charset=ütf-8".encode(),
]
_LENGTHS = [b"0", b"-1", b"1e3", b"\xb2", b"99999999999999999999", b" 10", b"abc", b"65537"]
_LENGTHS += [b"9" * 5000, b"0" * 5000 + b"1"]  # more digits than int() reads from text

_ADDRESS = st.sampled_from(
    [
        "finance@acme.example.com",
        "Audit.Team@Example.org",
        "ops+exports@eu.example.io",
        "a@x.io",
        "A@X.IO",
        "olivia@acme.example.com",
        "OLIVIA@ACME.EXAMPLE.COM",
        "otto@globex.example.com",
        "first.last@sub.domain.example",
        "o'brien@example.ie",
        "x_y-z@example.museum",
        "user@bücher.example",
        "x@xn--bcher-kva.example",
        "quoted@[127.0.0.1]",
        "long" + "g" * 60 + "@example.com",
    ]
)
"""A few valid and nearly valid addresses: one draw each, where ``addresses()`` takes ten."""
_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    10**30,
    -(10**30),
    1.5,
    -0.0,
    1e308,
    "",
    " ",
    "x",
    "PAID",
    "COMPLETED",
    "SUPPLIER",
    "MARKETPLACE",
    "paid",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00+01:00",
    "1700000000",
    "10.5",
    "-10.5",
    "NaN",
    "Infinity",
    "1e5",
    "\u0663",
    "a@x.io",
    "user@bücher.example",
    *HOSTILE_ADDRESSES,
    [],
    [None],
    [1],
    [True],
    [[]],
    [{}],
    ["PAID"],
    ["PAID", "LOST"],
    ["a@x.io"],
    ["a@x.io", "A@X.IO", "olivia@acme.example.com"],
    ["a@x.io", "Boss <b@x.io>"],
    [f"a{i}@x.io" for i in range(21)],
    ["supplier-acme"] * 101,
    ["supplier\0acme"],
    {},
    {"cc": []},
    {"a": 1},
]
"""JSON values of every type, valid and not for each field."""
_JSON = (
    st.sampled_from(_VALUES)
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.lists(_ADDRESS | st.text(max_size=8), max_size=3)
)
"""Any JSON value: mostly one draw, so that ten thousand requests stay quick."""


@dataclass(frozen=True)
class Request:
    """One request as the fuzzer sends it; ``route`` says which route it was aimed at."""

    route: str
    method: str
    path: str
    target: str | None
    headers: list[tuple[bytes, bytes]]
    query: bytes
    chunks: list[bytes]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k == name]


Count = Callable[[], Awaitable[tuple[int, int, int]]]
"""How many deliveries, exports and generation jobs a store holds."""
ANNA = caller("anna", "acme", ClientType.ACCOUNT)
CAST = (OLIVIA, SAM, ANNA, OTTO)
"""The stage's callers: two operators of two tenants, a supplier and an account."""


@dataclass
class Stage:
    """The world the fuzzer runs in: a container (on memory or a SQL database, with a manual
    clock and the in-memory mailer), the four callers of ``CAST`` with keys, olivia's READY
    export (with an original CC and a file) and PENDING one, otto's READY export, and a link
    to each file. Everything is read through the ports, but ``count``, which counts rows."""

    container: Container
    count: Count
    keys: dict[bytes, Caller]
    exports: dict[str, Export]
    tokens: dict[str, str]
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    """How many answers of each status each route gave."""
    owners: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    """The tenant and owner of each export stored: the stage's, and every one created."""
    queued: set[UUID] = field(default_factory=set)
    """Every delivery queued so far."""
    counted: tuple[int, int, int, int] | None = None
    """What ``rows`` gave last, after the last answer checked: the next one's ``before``."""

    @property
    def mailer(self) -> InMemoryMailer:
        mailer = self.container.mailer()
        assert isinstance(mailer, InMemoryMailer)
        return mailer

    def key_of(self, who: Caller) -> bytes:
        return next(k for k, c in self.keys.items() if c == who)

    async def rows(self) -> tuple[int, int, int, int]:
        """How many deliveries, exports and generation jobs are stored, and emails sent."""
        self.counted = (*await self.count(), len(self.mailer.sent))
        return self.counted

    async def check(self, request: Request, response: RawResponse, before: Sequence[int]) -> None:
        """Hold one answer to the rules (see the module's docstring)."""
        status = response.status
        assert status < 500, (status, response.body[:500])
        self.statuses[request.route, status] += 1
        for key in self.keys:
            assert key not in response.body
        if not 200 <= status < 300:
            self._check_problem(response)
            assert await self.rows() == tuple(before), "a refused request changed what is stored"
            return
        who = _caller(request, self.keys)
        replayed = response.header("idempotent-replayed") == "true"
        if request.route == "download":
            assert response.header("content-type") == "text/csv; charset=utf-8"
            assert request.target is not None, "a download of an export that is not there"
            assert _query_values(request.query, "token") == [self.tokens[request.target]]
            assert await self.rows() == tuple(before), "a download changed what is stored"
        elif request.route in ("get", "emails", "history"):
            assert who is not None, "a read without valid credentials"
            assert response.header("content-type") == "application/json"
            if request.route != "history":
                assert request.target is not None, "a read of an export that is not there"
                owner = self.exports[request.target]
                assert (who.tenant_id, who.user_id) == (owner.tenant_id, owner.owner_id)
            for item in response.json().get("items", []):
                listed = self.owners.get(UUID(item["exportId"]))
                assert listed == (who.tenant_id, who.user_id), f"listed {item}"
            assert await self.rows() == tuple(before), "a read changed what is stored"
        elif request.route == "resend":
            added = await self._new_deliveries(request.target)
            assert who is not None, "a resend without valid credentials"
            assert request.target in ("ready", "theirs"), "a resend of an export not READY"
            ready = self.exports[request.target]
            assert (who.tenant_id, who.user_id) == (ready.tenant_id, ready.owner_id)
            body = _valid_body(request, "resend")
            await self._added(before, deliveries=0 if replayed else 1)
            assert len(added) == (0 if replayed else 1), "a resend queued another export's email"
            for delivery in added:
                assert delivery.recipients.to == who.email
                asked = body.get("cc")
                _check_copied(delivery.recipients.cc, ready.cc if asked is None else asked)
        else:
            created = None if replayed else await self._created(response)
            export_type = ExportType(request.route)
            assert who is not None, "an export request without valid credentials"
            assert export_type in ALLOWED[who.client_type]
            body = _valid_body(request, export_type)
            await self._added(before, exports=0 if replayed else 1)
            if created is not None:
                assert (created.tenant_id, created.owner_id) == (who.tenant_id, who.user_id)
                assert created.status is ExportStatus.PENDING
                _check_copied(created.cc, body.get("cc") or ())

    @staticmethod
    def _check_problem(response: RawResponse) -> None:
        assert response.header("content-type") == "application/problem+json", response.body
        problem = response.json()
        code = problem["code"]
        assert PROBLEM_STATUS.get(code) == response.status == problem["status"], problem
        assert problem["type"] == f"urn:export-resend:problem:{code.lower().replace('_', '-')}"
        assert problem["title"]
        assert isinstance(problem["detail"], str)
        if response.status == 401:
            assert response.header("www-authenticate") is not None

    async def _added(self, before: Sequence[int], *, deliveries: int = 0, exports: int = 0) -> None:
        after = await self.rows()
        assert after == (
            before[0] + deliveries,
            before[1] + exports,
            before[2] + exports,
            before[3],
        ), "a success queued something other than its own email or export"

    # _created and _new_deliveries note what a success stored before it is judged, so that
    # an answer that fails its checks does not fail the checks of the answers after it too

    async def _created(self, response: RawResponse) -> Export:
        """The export an export request created, noted in ``owners``."""
        export_id = UUID(response.json()["exportId"])
        async with self.container.unit_of_work() as uow:
            stored: Export | None = await uow.exports.get(export_id)
        assert stored is not None, f"export {export_id} is not stored"
        self.owners[stored.id] = (stored.tenant_id, stored.owner_id)
        return stored

    async def _new_deliveries(self, target: str | None) -> list[Delivery]:
        """The deliveries of the stage's export ``target`` (if any) queued since this was last
        asked, noted in ``queued``."""
        if target not in self.exports:
            return []
        async with self.container.unit_of_work() as uow:
            deliveries = await uow.deliveries.list_for_export(self.exports[target].id)
        added = [d for d in deliveries if d.id not in self.queued]
        self.queued.update(d.id for d in added)
        return added

    async def answer(self, app: ASGIApp, request: Request) -> None:
        """Send ``request`` to ``app`` and hold its answer to the rules."""
        before = self.counted or await self.rows()
        self.counted = None  # until this answer has been checked
        response = await asgi.call(
            app,
            request.method,
            request.path,
            headers=request.headers,
            query=request.query,
            chunks=request.chunks,
        )
        await self.check(request, response, before)

    async def settle(self) -> None:
        """Generate every export queued, then send every email queued (the stage's clock
        stands still: whatever fails stays failed, and the checks after see it)."""
        for worker in (self.container.generator(), self.container.dispatcher()):
            worker.start()
            try:
                await worker.idle()
            finally:
                await worker.stop()

    async def check_settled(self) -> None:
        """Every export created is READY, every email queued was sent exactly once, to its
        envelope, and each went to the owner of its export, copied to no one it did not ask."""
        deliveries, exports, jobs = await self.count()
        assert (exports, jobs) == (len(self.owners), 0), "an export left unstored or not run"
        envelopes: dict[str, tuple[str, ...]] = {}
        async with self.container.unit_of_work() as uow:
            for export_id in self.owners:
                stored = await uow.exports.get(export_id)
                assert stored is not None
                if stored.id != self.exports["pending"].id:  # it has no job
                    assert stored.status is ExportStatus.READY, stored
                for delivery in await uow.deliveries.list_for_export(export_id):
                    assert delivery.status is DeliveryStatus.SENT, delivery
                    assert delivery.recipients.to == stored.owner_email, delivery
                    if delivery.kind is DeliveryKind.INITIAL:
                        assert set(delivery.recipients.cc) <= set(stored.cc), delivery
                    else:
                        assert delivery.id in self.queued, delivery
                    envelopes[delivery.message_id] = delivery.recipients.envelope
        assert len(envelopes) == deliveries, "a delivery of no export"
        sent = {email.message["Message-ID"]: email.recipients for email in self.mailer.sent}
        assert len(sent) == len(self.mailer.sent), "an email sent twice"
        assert sent == envelopes, "an email sent other than as it was queued"

    def check_reach(self, least: int) -> None:
        """The fuzzer reached every route past every check, and drew every refusal, at least
        ``least`` times each."""
        statuses = self.statuses
        for route in ROUTES:
            passed = sum(n for (r, status), n in statuses.items() if r == route and status < 300)
            assert passed >= least, (route, passed)
        for refusal in (400, 401, 403, 404, 405, 413, 415):
            refused = sum(n for (_, status), n in statuses.items() if status == refusal)
            assert refused >= least, (refusal, refused)


def _check_copied(copied: Sequence[str], asked: Sequence[str]) -> None:
    for address in copied:
        assert _safe_address(address, ascii_only=True), f"queued cc {address!r}"
        assert any(_same_address(address, a) for a in asked), f"queued cc {address!r}"


def _caller(request: Request, keys: dict[bytes, Caller]) -> Caller | None:
    """The caller if the request carries exactly one known key and exactly its client type."""
    key, client = request.values(b"dj-api-key"), request.values(b"dj-client")
    if len(key) != 1 or len(client) != 1 or key[0] not in keys:
        return None
    who = keys[key[0]]
    return who if client[0] == who.client_type.value.encode() else None


def _query_values(query: bytes, name: str) -> list[str]:
    return [v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == name]


def _is_json_media_type(value: bytes) -> bool:
    media_type, *params = (p.strip().lower() for p in value.decode("latin-1").split(";"))
    json_type = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    charsets = [p.split("=", 1)[1].strip('"') for p in params if p.startswith("charset=")]
    return json_type and all(c in ("utf-8", "utf8") for c in charsets)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a body with a duplicated key was accepted"
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"a body with {name} was accepted")


def _valid_body(request: Request, route: str | ExportType) -> dict[str, Any]:
    """Fail unless the body is one the API documents as valid for ``route``; return it."""
    body = request.body
    if not body.strip():
        return {}
    [content_type, *_] = request.values(b"content-type") or [b""]
    assert _is_json_media_type(content_type), "a body accepted under a non-JSON media type"
    value = json.loads(
        body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
    )
    if value is None:
        return {}
    assert isinstance(value, dict), "a body that is not an object was accepted"
    for name in FIELDS[route] & value.keys():
        _check_field(name, value[name])
    return value


def _check_field(name: str, value: Any) -> None:
    if value is None:
        return
    if name in LIST_FIELDS:
        assert isinstance(value, list), (name, value)
        assert len(value) <= LIST_FIELDS[name], (name, len(value))
        assert all(isinstance(v, str) for v in value), (name, value)
        if name == "cc":
            for address in value:
                assert _safe_address(address, ascii_only=False), f"accepted cc {address!r}"
        if name == "supplierIds":  # PostgreSQL cannot store a NUL
            assert not any(_CONTROL.search(v) for v in value), (name, value)
    elif name in NUMBER_FIELDS:
        # an amount is a number or a decimal string
        assert isinstance(value, int | float | str), (name, value)
        assert not isinstance(value, bool), (name, value)
    elif name in DATE_FIELDS:
        # a date is ISO 8601 text, never a number read as a Unix time
        assert isinstance(value, str), (name, value)
    elif name in TEXT_FIELDS:
        assert isinstance(value, str), (name, value)


@dataclass(frozen=True)
class _Header:
    """How one header is drawn: mostly its valid value; else none, an odd one, or several."""

    name: bytes
    valid: bytes
    odd: st.SearchStrategy[bytes]

    def several(self) -> st.SearchStrategy[list[bytes]]:
        return st.lists(st.just(self.valid) | self.odd, min_size=2, max_size=3)

    def draw(
        self, draw: st.DrawFn, mode: int, several: st.SearchStrategy[list[bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """``mode`` is four bits: 0 to 9 the valid value, 10 none, 11 to 13 an odd value,
        14 and 15 two or three values, valid or odd."""
        if mode < 10:
            values = [self.valid]
        elif mode == 10:
            values = []
        elif mode < 14:
            values = [draw(self.odd)]
        else:
            values = draw(several)
        return [(self.name, v) for v in values]


_CC_ENTRY = _ADDRESS | st.sampled_from(HOSTILE_ADDRESSES) | st.text(max_size=12)
_EXTRA_FIELDS = ["to", "bcc", "CC", "pad", ""]
_SIZES = [
    *(b'{"cc": [], "pad": "' + b"x" * (n - 21) + b'"}' for n in (LIMIT - 1, LIMIT, LIMIT + 1)),
    *(b" " * n for n in (LIMIT, LIMIT + 1)),
]
"""Bodies about the 64 KiB limit: JSON, and white space (which is no body at all)."""


_STORED_TEXT = st.lists(
    st.just("\0")
    | st.sampled_from(["\ud800", "\udfff", "\uffff", "\x01", "\x1f", "\x7f", "\x85", "\x9f"])
    | st.sampled_from(["\t", "\n", "\u2028", "\ufeff", "\U0010ffff", "'", '"', "\\", "%", "_"])
    | st.sampled_from(["supplier-acme", "é", "供应商"]),
    min_size=1,
    max_size=3,
).map("".join)
"""Text that a database may refuse or change: NUL, the one character PostgreSQL stores in no
text or JSONB, on its own as often as each other kind; lone surrogates, non-characters and
control characters; white space, quotes, escapes and wildcards; and plain text."""


def _json(value: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _body(route: str) -> st.SearchStrategy[bytes]:
    """Bodies for a POST to ``route``: one field at a time with a value of every type (each
    pair is one choice, which keeps ten thousand examples quick), two such fields, CC lists
    of good and hostile addresses, lists of text a database may refuse in the route's
    free-text fields if it has any (three times as often as each other kind: they reach the
    database as they are), the special bodies, sizes about the limit, random bytes."""
    fields = sorted(FIELDS[route] if route in FIELDS else FIELDS["resend"]) + _EXTRA_FIELDS
    pairs = st.sampled_from([(f, v) for f in fields for v in _VALUES])
    one_field = st.tuples(pairs, st.booleans()).map(lambda p: _json(dict([p[0]]), p[1]))
    two_fields = st.tuples(pairs, pairs).map(lambda p: _json(dict(p)))
    cc_lists = st.lists(_CC_ENTRY, max_size=22).map(lambda cc: _json({"cc": cc}, False))
    good_cc_lists = st.lists(_ADDRESS, min_size=2, max_size=20).map(lambda cc: _json({"cc": cc}))
    free = st.tuples(st.sampled_from(fields), _JSON).map(lambda p: _json(dict([p])))
    free_text = sorted(FREE_TEXT_FIELDS & set(fields))
    texts = st.tuples(st.sampled_from(free_text), st.lists(_STORED_TEXT, min_size=1, max_size=5))
    # one_of() draws each distinct strategy as often as any other: so, three of these
    stored_text = [texts.map(lambda p: _json(dict([p]))) for _ in range(3 if free_text else 0)]
    return st.one_of(
        one_field,
        two_fields,
        cc_lists,
        good_cc_lists,
        free,
        *stored_text,
        st.sampled_from(_SPECIAL_BODIES),
        st.sampled_from(_SIZES),
        st.binary(max_size=64),
    )


ROUTES = ["resend", *(t.value for t in ExportType), "get", "emails", "history", "download"]
_TARGETS = ["own", "own", "ready", "pending", "theirs", "unknown", "junk"]
"""Which export a path names: ``own`` is the caller's READY export (olivia's for a caller
with none), the others are olivia's READY and PENDING ones, otto's, and none at all."""
_UNKNOWN = str(uuid4())


_ROUTE = st.sampled_from(ROUTES)
_TARGET = st.sampled_from(_TARGETS)
_JUNK_ID = st.text(st.characters(codec="utf-8", exclude_characters="/"), max_size=30)
_ODD_ROUTE = st.integers(0, 19)
_ODD_METHOD = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
_ODD_CLIENT = st.sampled_from(_CLIENT_VALUES) | st.binary(max_size=16)
_CONTENT_TYPE = _Header(
    b"content-type", b"application/json", st.sampled_from(_CONTENT_TYPES) | st.binary(max_size=30)
)
_IDEMPOTENCY_KEY = (
    st.binary(max_size=48)
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.encode)
    | st.just(b"k" * 256)
)
_MODES = st.integers(0, 2**16 - 1)
_ODD_LENGTH = st.sampled_from(_LENGTHS)
_CUTS = st.lists(st.integers(0, LIMIT + 1), max_size=2)
_SUFFIX = {"resend": "/resend-email", "get": "", "emails": "/emails", "download": "/download"}


def _path(draw: st.DrawFn, stage: Stage, route: str, who: Caller) -> tuple[str, str | None]:
    """The path of ``route``, and which of the stage's exports it names, if any."""
    if route == "history":
        return "/v1/exports", None
    if route not in _SUFFIX:
        return REQUEST_PATHS[ExportType(route)], None
    target = draw(_TARGET)
    if target == "own":
        target = "theirs" if who.tenant_id == stage.exports["theirs"].tenant_id else "ready"
    if target == "junk":
        return f"/v1/exports/{draw(_JUNK_ID)}{_SUFFIX[route]}", None
    if target == "unknown":
        return f"/v1/exports/{_UNKNOWN}{_SUFFIX[route]}", None
    return f"/v1/exports/{stage.exports[target].id}{_SUFFIX[route]}", target


def requests(stage: Stage) -> st.SearchStrategy[Request]:
    """Any request at any route of ``stage``'s world."""
    keys = list(stage.keys)
    odd_keys = (
        st.sampled_from([*keys, b"", b"key-", b"\x00", "ключ".encode(), b"k" * 5000])
        | st.sampled_from(keys).map(lambda k: k.upper())
        | st.sampled_from(keys).map(lambda k: k + b" ")
        | st.binary(max_size=40)
    )
    callers = st.sampled_from(list(stage.keys.values()))
    headers_of = {
        who: (
            _Header(b"dj-api-key", key, odd_keys),
            _Header(b"dj-client", who.client_type.value.encode(), _ODD_CLIENT),
            _CONTENT_TYPE,
        )
        for key, who in stage.keys.items()
    }
    several = {h: h.several() for hs in headers_of.values() for h in hs}
    bodies = {route: _body(route) for route in ROUTES}
    queries = {route: _query(route, stage) for route in ROUTES}

    @st.composite
    def build(draw: st.DrawFn) -> Request:
        route = draw(_ROUTE)
        who = draw(callers)
        posts = route == "resend" or route in REQUEST_PATHS
        path, target = _path(draw, stage, route, who)
        method = "POST" if posts else "GET"
        if draw(_ODD_ROUTE) == 0:
            method = draw(_ODD_METHOD)
            path = draw(st.sampled_from([path, path + "/", "/v1/nowhere", "/v1/exports//emails"]))
        modes = draw(_MODES)  # four bits a header, then the rest: 0 is a valid request
        headers = [
            header
            for i, h in enumerate(headers_of[who])
            for header in h.draw(draw, modes >> 4 * i & 15, several[h])
        ]
        if modes >> 12 & 1:
            headers.append((b"idempotency-key", draw(_IDEMPOTENCY_KEY)))
            if not modes & 15:  # sometimes twice
                headers.append((b"idempotency-key", draw(_IDEMPOTENCY_KEY)))
        body = draw(bodies[route]) if posts or draw(_ODD_ROUTE) == 0 else b""
        if not modes >> 13 & 1:
            headers.append((b"content-length", str(len(body)).encode()))
        elif modes >> 14 & 1:
            headers.append((b"content-length", draw(_ODD_LENGTH)))
        if modes >> 15 & 1:
            headers.reverse()
        cuts = sorted(c % (len(body) + 1) for c in draw(_CUTS)) if body else []
        chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        return Request(route, method, path, target, headers, draw(queries[route]), chunks)

    return build()


_HISTORY_VALUES = [
    *(t.value for t in ExportType),
    *(s.value for s in ExportStatus),
    *("0", "1", "100", "101", "-1", "1e3", " 5", "9" * 30, "", "%FF", "\u0663"),
]
_HISTORY_QUERIES = [
    urlencode(pairs).encode()
    for pairs in (
        [],
        *(
            [(name, value)]
            for name in ("type", "status", "page", "size")
            for value in _HISTORY_VALUES
        ),
        [("size", "1"), ("size", "1000")],
        [("type", "SUPPLIER_PAYOUTS"), ("status", "READY"), ("page", "0"), ("size", "100")],
        [("junk", "1")],
    )
]


def _tampered(token: str) -> str:
    """``token`` with one character of its signature changed: not one of the last two, whose
    low bits base64 ignores (``[:-2] + "xx"`` was the same token once in 256)."""
    at = len(token) - 10
    return token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1 :]


def _query(route: str, stage: Stage) -> st.SearchStrategy[bytes]:
    if route == "download":
        tokens = list(stage.tokens.values())
        queries = [
            *(f"token={t}" for t in tokens),
            *(f"token={_tampered(t)}" for t in tokens),
            *(f"token={a}&token={b}" for a in tokens for b in tokens),
            "token=",
            "",
        ]
        return st.sampled_from([q.encode() for q in queries]) | st.text(max_size=12).map(
            lambda t: urlencode({"token": t}).encode()
        )
    if route == "history":
        return st.sampled_from(_HISTORY_QUERIES) | st.binary(max_size=24)
    return st.just(b"") | st.binary(max_size=16)


async def build_stage(container: Container, count: Count) -> Stage:
    """The stage (see ``Stage``) set on ``container``, whose store must be empty."""
    now = container.clock().now()
    keys = {
        (await issue_key(container.stored_api_keys(), who, at=now)).encode(): who for who in CAST
    }
    links = container.links()
    exports: dict[str, Export] = {}
    tokens: dict[str, str] = {}
    for name, owner, status in [
        ("ready", OLIVIA, ExportStatus.READY),
        ("pending", OLIVIA, ExportStatus.PENDING),
        ("theirs", OTTO, ExportStatus.READY),
    ]:
        made = export(owner, status, cc=("finance@acme.example.com",))
        if made.file is not None:
            content = f"id;amount\n{made.id};1.00\n".encode()
            file = ExportFile(f"{made.id}.csv", len(content), 1, sha256(content).hexdigest())
            made = dataclasses.replace(made, file=file)
            async with container.file_store().writer(file.storage_key) as writer:
                await writer.write(content)
                await writer.commit()
            tokens[name] = links.url_for(made).split("token=")[1]
        async with container.unit_of_work() as uow:
            await uow.exports.add(made)
            await uow.commit()
        exports[name] = made
    owners = {made.id: (made.tenant_id, made.owner_id) for made in exports.values()}
    return Stage(container, count, keys, exports, tokens, owners=owners)


class _Alarms(logging.Handler):
    """Keeps every warning and error it is given."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _alarms() -> Iterator[list[logging.LogRecord]]:
    """Every warning and error the service logs, while in the block."""
    handler = _Alarms()
    logger = logging.getLogger("export_resend")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def fuzz(runner: asyncio.Runner, stage: Stage, examples: int) -> None:
    """Send ``examples`` requests drawn by ``requests(stage)`` to the app on the stage's
    container, straight through ASGI, and hold each answer to the rules; then generate
    every export and send every email that was queued (``Stage.settle``). Fails on any
    answer against the rules, on any warning or error the service logs, and on anything
    that went otherwise than queued (``Stage.check_settled``). ``stage.statuses`` then
    says what the fuzzer reached (``Stage.check_reach``)."""
    drawn = 0
    app = create_app(container=stage.container)

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests(stage))
    def answer_is_safe(request: Request) -> None:
        nonlocal drawn
        drawn += 1
        note(request)
        logged = len(alarms)
        runner.run(stage.answer(app, request))
        assert alarms[logged:] == [], [r.getMessage() for r in alarms[logged:]]

    with _alarms() as alarms:
        answer_is_safe()
        runner.run(stage.settle())
    assert alarms == [], [r.getMessage() for r in alarms]
    assert drawn >= examples
    runner.run(stage.check_settled())


__all__ = [
    "ALLOWED",
    "ANNA",
    "CAST",
    "LIMIT",
    "PROBLEM_STATUS",
    "ROUTES",
    "Count",
    "Request",
    "Stage",
    "build_stage",
    "fuzz",
    "requests",
]
