"""The security matrix, route by route, through the HTTP app.

| who or what                                   | answer                                         |
|-----------------------------------------------|------------------------------------------------|
| another tenant, on any route naming an export | 404 ``EXPORT_NOT_FOUND``, whatever its status  |
| a download token, on any export but its own   | 404 ``EXPORT_NOT_FOUND``                       |
| another tenant's exports, in the history      | never listed, whatever the filters             |
| a same-tenant colleague, on owner-only routes | 403 ``EXPORT_FORBIDDEN``, whatever the status  |
| a ``dj-client`` that is not the key's         | 403 ``CLIENT_NOT_ALLOWED`` on every route      |
| no key, an unknown key, a key sent twice      | 401 ``UNAUTHENTICATED`` + ``WWW-Authenticate`` |
| a client type on an export type it may not ask| 403 ``EXPORT_TYPE_NOT_ALLOWED``                |
| CR, LF, NUL, ``=?``... in any address field   | 400 ``VALIDATION_FAILED`` naming ``cc[i]``     |
| a body over 64 KiB, declared or streamed      | 413 ``PAYLOAD_TOO_LARGE`` on every POST        |
| 10,000 malformed requests of any shape         | never a 5xx, always a stable problem code      |

In every refused case nothing is queued (no delivery, export or generation job) and, once the
dispatcher has run, nothing has been sent. The last row is the Hypothesis test at the end of
this file; tests/e2e/malformed.py draws its requests and judges each answer.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pydantic import AfterValidator, BaseModel

from export_resend.adapters.signing import ItsdangerousDownloadLinks
from export_resend.application.addresses import bare_address
from export_resend.application.request_export import COMMANDS
from export_resend.application.resend_export_email import ResendExportEmailCommand
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.main import create_app
from tests.conftest import World, make_world
from tests.e2e import asgi, malformed
from tests.e2e.conftest import OLIVIA, OSCAR, OTTO, SAM, Api
from tests.e2e.test_exports_http import ROUTES as REQUEST_ROUTES
from tests.e2e.test_resend_http import _problem
from tests.factories import caller, export

NAMESAKE = caller("olivia", "globex")
"""Another tenant's user with olivia's user id: tenancy is not a matter of user ids."""
ANNA = malformed.ANNA
LIMIT = malformed.LIMIT


@dataclass(frozen=True)
class Route:
    """One route of the API, and a body it would accept."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None

    def url(self, export_id: UUID | None = None) -> str:
        return self.path.format(id=export_id)

    def __str__(self) -> str:
        return self.name


RESEND = Route("resend", "POST", "/v1/exports/{id}/resend-email", {"cc": []})
GET = Route("get", "GET", "/v1/exports/{id}")
EMAILS = Route("emails", "GET", "/v1/exports/{id}/emails")
HISTORY = Route("history", "GET", "/v1/exports")
REQUESTS = [
    Route(f"request {t.value}", "POST", path, {"cc": []}) for t, path in REQUEST_ROUTES.items()
]
NAMING_AN_EXPORT = [GET, EMAILS, RESEND]
"""The routes that name an export and need credentials (the download needs its token only)."""
AUTHENTICATED = [*REQUESTS, HISTORY, GET, EMAILS, RESEND]
POSTS = [*REQUESTS, RESEND]


def _key(api: Api, who: Caller) -> str:
    return api.world.keys[f"{who.user_id}@{who.tenant_id}"]


async def _as(api: Api, who: Caller) -> dict[str, str]:
    if f"{who.user_id}@{who.tenant_id}" not in api.world.keys:
        await api.world.add_caller(who)
    return api.headers(who)


async def _call(
    api: Api, route: Route, export_id: UUID | None, headers: dict[str, str] | list[Any]
) -> httpx.Response:
    return await api.client.request(
        route.method, route.url(export_id), headers=headers, json=route.body
    )


def _rows(world: World) -> tuple[int, int, int]:
    return len(world.store.deliveries), len(world.store.exports), len(world.store.jobs)


@dataclass
class Nothing:
    """Takes stock of the outbox, the exports and the jobs, to prove that nothing was added."""

    world: World
    before: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        self.before = _rows(self.world)

    async def was_queued_or_sent(self) -> None:
        assert _rows(self.world) == self.before
        await self.world.container.dispatcher().idle()
        assert self.world.mailer.sent == []


async def _refused(
    api: Api,
    route: Route,
    export_id: UUID | None,
    headers: dict[str, str] | list[Any],
    answer: tuple[int, str],
) -> dict[str, Any]:
    """Call ``route``: it must answer the problem ``answer`` (status, code), which is
    returned, and nothing may have been queued or, once the dispatcher has run, sent."""
    nothing = Nothing(api.world)
    problem = _problem(await _call(api, route, export_id, headers), *answer)
    await nothing.was_queued_or_sent()
    return problem


class TestTenancy:
    @pytest.mark.parametrize("status", list(ExportStatus))
    @pytest.mark.parametrize("visitor", [OTTO, NAMESAKE], ids=["other-tenant", "namesake"])
    @pytest.mark.parametrize("route", NAMING_AN_EXPORT, ids=str)
    async def test_another_tenants_export_is_not_found_on_every_route_that_names_it(
        self, api: Api, route: Route, visitor: Caller, status: ExportStatus
    ) -> None:
        target = await api.world.add_export(export(OLIVIA, status))
        headers = await _as(api, visitor)
        problem = await _refused(api, route, target.id, headers, (404, "EXPORT_NOT_FOUND"))

        unknown = uuid4()
        same = await _refused(api, route, unknown, headers, (404, "EXPORT_NOT_FOUND"))
        assert problem["detail"].replace(str(target.id), str(unknown)) == same["detail"]
        assert {k: v for k, v in problem.items() if k not in ("detail", "instance")} == {
            k: v for k, v in same.items() if k not in ("detail", "instance")
        }

    async def test_the_history_never_lists_another_users_export_whatever_the_filters(
        self, api: Api
    ) -> None:
        owners = [OLIVIA, OSCAR, OTTO, NAMESAKE]
        mine: dict[Caller, set[str]] = {who: set() for who in owners}
        for who in owners:
            for export_type in ExportType:
                for status in ExportStatus:
                    added = await api.world.add_export(export(who, status, export_type=export_type))
                    mine[who].add(str(added.id))
        queries = [
            "",
            *(f"type={t.value}" for t in ExportType),
            *(f"status={s.value}" for s in ExportStatus),
        ]
        for who in owners:
            for query in queries:
                response = await api.client.get(
                    f"/v1/exports?size=100&{query}", headers=await _as(api, who)
                )
                assert response.status_code == 200, response.text
                listed = {item["exportId"] for item in response.json()["items"]}
                assert listed <= mine[who], (who.user_id, who.tenant_id, query)
                assert listed, query  # every filter matches some of each owner's exports


async def _generated(api: Api, who: Caller) -> tuple[UUID, str]:
    """A READY export generated for ``who``, and the download link of its first email."""
    response = await api.client.post(
        REQUEST_ROUTES[ExportType.TRANSACTION_EVENTS], headers=await _as(api, who)
    )
    export_id = UUID(response.json()["exportId"])
    await api.world.container.generator().idle()
    await api.world.container.dispatcher().idle()
    email = next(e for e in api.world.mailer.sent if e.recipients[0] == who.email)
    text = email.message.get_body(("plain",))
    assert text is not None
    link = next(w for w in text.get_content().split() if "/download?token=" in w)
    return export_id, link.split("token=")[1]


@pytest.fixture
async def tokens(api: Api) -> dict[str, tuple[UUID, str]]:
    """Olivia's and Otto's READY exports, each with the token of its email."""
    return {"olivia": await _generated(api, OLIVIA), "otto": await _generated(api, OTTO)}


class TestDownloadTokens:
    """A token names one export and nothing else: it is the only credential a download needs,
    so the ``dj-*`` headers of whoever holds it neither help nor hinder."""

    @pytest.mark.parametrize(("token_of", "export_of"), [("olivia", "otto"), ("otto", "olivia")])
    @pytest.mark.parametrize("holder", [None, OLIVIA, OTTO], ids=["anyone", "olivia", "otto"])
    async def test_a_token_opens_no_export_but_its_own(
        self,
        api: Api,
        tokens: dict[str, tuple[UUID, str]],
        token_of: str,
        export_of: str,
        holder: Caller | None,
    ) -> None:
        headers = {} if holder is None else api.headers(holder)
        token, target = tokens[token_of][1], tokens[export_of][0]
        foreign = await api.client.get(
            f"/v1/exports/{target}/download?token={token}", headers=headers
        )
        _problem(foreign, 404, "EXPORT_NOT_FOUND")
        own = await api.client.get(
            f"/v1/exports/{tokens[token_of][0]}/download?token={token}", headers=headers
        )
        assert own.status_code == 200, own.text

    @pytest.mark.parametrize("first", ["forged", "own"])
    async def test_a_token_given_twice_is_refused_even_when_one_copy_is_good(
        self, api: Api, tokens: dict[str, tuple[UUID, str]], first: str
    ) -> None:
        export_id, token = tokens["olivia"]
        copy = token if first == "own" else "forged"
        response = await api.client.get(
            f"/v1/exports/{export_id}/download?token={copy}&token={token}"
        )
        problem = _problem(response, 400, "VALIDATION_FAILED")
        assert [(e["code"], e["field"]) for e in problem["errors"]] == [("F-E-012", "token")]

    async def test_a_token_signed_with_another_secret_opens_nothing(
        self, api: Api, tokens: dict[str, tuple[UUID, str]]
    ) -> None:
        export_id, _ = tokens["olivia"]
        stolen = await api.world.container.get_export()(OLIVIA, export_id)
        elsewhere = ItsdangerousDownloadLinks(
            secret="another-deployment-0123456789abcdef", public_base_url=""
        )
        token = elsewhere.url_for(stolen.export).split("token=")[1]
        response = await api.client.get(f"/v1/exports/{export_id}/download?token={token}")
        _problem(response, 404, "EXPORT_NOT_FOUND")


class TestOwnership:
    @pytest.mark.parametrize("status", list(ExportStatus))
    @pytest.mark.parametrize("colleague", [OSCAR, SAM], ids=["operator", "supplier"])
    @pytest.mark.parametrize("route", NAMING_AN_EXPORT, ids=str)
    async def test_a_colleague_in_the_same_tenant_is_forbidden_on_every_owner_only_route(
        self, api: Api, route: Route, colleague: Caller, status: ExportStatus
    ) -> None:
        target = await api.world.add_export(export(OLIVIA, status))
        await _refused(api, route, target.id, api.headers(colleague), (403, "EXPORT_FORBIDDEN"))


class TestCredentials:
    @pytest.mark.parametrize(
        ("who", "client"),
        [
            (OLIVIA, "SUPPLIER"),
            (OLIVIA, "ACCOUNT"),
            (OLIVIA, "operator"),
            (OLIVIA, "ADMIN"),
            (SAM, "OPERATOR"),
            (ANNA, "SUPPLIER"),
        ],
        ids=lambda v: v if isinstance(v, str) else v.user_id,
    )
    @pytest.mark.parametrize("route", AUTHENTICATED, ids=str)
    async def test_a_dj_client_that_is_not_the_keys_is_refused_on_every_route(
        self, api: Api, route: Route, who: Caller, client: str
    ) -> None:
        target = await api.world.add_export(export(who))
        headers = {**await _as(api, who), "dj-client": client}
        await _refused(api, route, target.id, headers, (403, "CLIENT_NOT_ALLOWED"))

    @pytest.mark.parametrize(
        "credentials",
        [
            {},
            {"dj-client": "OPERATOR"},
            {"dj-api-key": "OLIVIA"},
            {"dj-api-key": "", "dj-client": "OPERATOR"},
            {"dj-api-key": "not-a-real-key-0123456789", "dj-client": "OPERATOR"},
            {"dj-api-key": "OLIVIA", "dj-client": ""},
        ],
        ids=["none", "client-only", "key-only", "empty-key", "unknown-key", "empty-client"],
    )
    @pytest.mark.parametrize("route", AUTHENTICATED, ids=str)
    async def test_a_missing_or_unknown_key_is_a_401_that_says_how_to_authenticate(
        self, api: Api, route: Route, credentials: dict[str, str]
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        headers = {k: _key(api, OLIVIA) if v == "OLIVIA" else v for k, v in credentials.items()}
        nothing = Nothing(api.world)
        response = await _call(api, route, target.id, headers)
        _problem(response, 401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"] == 'dj-api-key realm="export-resend"'
        assert "not-a-real-key" not in response.text
        await nothing.was_queued_or_sent()

    @pytest.mark.parametrize(
        ("keys", "clients", "expected"),
        [
            (["OLIVIA", "OLIVIA"], ["OPERATOR"], (401, "UNAUTHENTICATED")),
            (["unknown", "OLIVIA"], ["OPERATOR"], (401, "UNAUTHENTICATED")),
            (["OLIVIA", "unknown"], ["OPERATOR"], (401, "UNAUTHENTICATED")),
            (["OLIVIA"], ["OPERATOR", "OPERATOR"], (403, "CLIENT_NOT_ALLOWED")),
            (["OLIVIA"], ["OPERATOR", "SUPPLIER"], (403, "CLIENT_NOT_ALLOWED")),
        ],
        ids=[
            "same-key-twice",
            "unknown-then-right",
            "right-then-unknown",
            "same-client-twice",
            "two-clients",
        ],
    )
    @pytest.mark.parametrize("route", [HISTORY, RESEND], ids=str)
    async def test_a_credential_header_sent_twice_is_refused_even_if_one_copy_is_right(
        self, api: Api, route: Route, keys: list[str], clients: list[str], expected: tuple[int, str]
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        headers = [("dj-api-key", _key(api, OLIVIA) if k == "OLIVIA" else k) for k in keys]
        headers += [("dj-client", c) for c in clients]
        await _refused(api, route, target.id, headers, expected)


CALLERS = {ClientType.OPERATOR: OLIVIA, ClientType.SUPPLIER: SAM, ClientType.ACCOUNT: ANNA}


class TestExportTypes:
    @pytest.mark.parametrize("export_type", list(ExportType))
    @pytest.mark.parametrize("client_type", list(ClientType))
    async def test_each_client_type_may_request_exactly_the_types_the_spec_allows(
        self, api: Api, client_type: ClientType, export_type: ExportType
    ) -> None:
        who = CALLERS[client_type]
        response = await api.client.post(
            REQUEST_ROUTES[export_type],
            headers=await _as(api, who),
            json={"cc": ["finance@acme.example.com"]},
        )
        if export_type in malformed.ALLOWED[client_type]:
            assert response.status_code == 202, response.text
            body = response.json()
            assert body["status"] == "PENDING"
            assert body["exportType"] == export_type.value
            assert body["cc"] == ["finance@acme.example.com"]
            assert response.headers["Location"] == f"/v1/exports/{body['exportId']}"
            stored = api.world.store.exports[next(iter(api.world.store.jobs))]
            assert (stored.owner_id, stored.tenant_id) == (who.user_id, who.tenant_id)
        else:
            problem = _problem(response, 403, "EXPORT_TYPE_NOT_ALLOWED")
            assert problem["clientType"] == client_type.value
            assert problem["exportType"] == export_type.value
            assert _rows(api.world) == (0, 0, 0)

    @pytest.mark.parametrize(
        "body",
        [b'{"statuses": ["NOPE"]}', b"not json", b" " * (LIMIT + 1)],
        ids=["invalid", "not-json", "too-large"],
    )
    async def test_a_forbidden_type_is_refused_before_its_body_is_read(
        self, api: Api, body: bytes
    ) -> None:
        response = await api.client.post(
            REQUEST_ROUTES[ExportType.SUPPLIER_PAYOUTS],
            headers={**await _as(api, SAM), "content-type": "application/json"},
            content=body,
        )
        _problem(response, 403, "EXPORT_TYPE_NOT_ALLOWED")


HOSTILE_ADDRESSES = {
    "crlf": "a@x.io\r\nBcc: spy@evil.example",
    "cr": "a@x.io\rBcc: spy@evil.example",
    "lf": "a@x.io\nBcc: spy@evil.example",
    "trailing-crlf": "a@x.io\r\n",
    "leading-crlf": "\r\nBcc: spy@evil.example",
    "crlf-body": "a@x.io\r\n\r\n<p>click here</p>",
    "nul": "a@x.io\0",
    "nul-in-local-part": "a\0b@x.io",
    "encoded-word": "=?utf-8?q?spy=40evil.example?=",
    "encoded-local-part": "=?utf-8?q?spy?=@x.io",
    "encoded-in-local-part": "spy=?utf-8?q?=0D=0ABcc:?=@x.io",
    "encoded-domain": "a@=?utf-8?q?evil?=.example",
    "encoded-b": "=?UTF-8?B?c3B5QGV2aWwuZXhhbXBsZQ==?=",
    "encoded-display-name": "=?utf-8?b?Qm9zcw==?= <spy@evil.example>",
    "encoded-display-name-no-space": "=?utf-8?q?Boss?=<spy@evil.example>",
    "quoted-encoded-word": '"=?utf-8?q?x?="@x.io',
    "display-name": "Boss <spy@evil.example>",
    "angle-brackets": "<spy@evil.example>",
    "quoted-display-name": '"Boss" spy@evil.example',
    "comma-list": "a@x.io, spy@evil.example",
    "semicolon-list": "a@x.io;spy@evil.example",
    "tab": "a@x.io\tspy@evil.example",
    "vertical-tab": "a@x.io\x0bBcc: spy@evil.example",
    "form-feed": "a@x.io\x0c",
    "unicode-line-separator": "a@x.io\u2028Bcc: spy@evil.example",
    "next-line": "a@x.io\x85Bcc: spy@evil.example",
    "url-encoded-crlf": "a%0d%0aBcc:spy@evil.example",
    "header-only": "Bcc: spy@evil.example",
}
ADDRESS_FIELDS = [(route, "cc") for route in POSTS]
"""Every field that holds email addresses, on every route that takes it."""


def _address_fields(model: type[BaseModel]) -> set[str]:
    def holds_addresses(annotation: Any) -> bool:
        if typing.get_origin(annotation) is typing.Annotated:
            _, *metadata = typing.get_args(annotation)
            if any(isinstance(m, AfterValidator) and m.func is bare_address for m in metadata):
                return True
        return any(holds_addresses(arg) for arg in typing.get_args(annotation))

    return {
        info.alias or name
        for name, info in model.model_fields.items()
        if holds_addresses(info.annotation)
        or any(holds_addresses(m) for m in info.metadata if not isinstance(m, type))
    }


def test_the_matrix_names_every_address_field_of_every_request() -> None:
    found = {("resend", f) for f in _address_fields(ResendExportEmailCommand)} | {
        (f"request {t.value}", f) for t, model in COMMANDS.items() for f in _address_fields(model)
    }
    assert found == {(route.name, field) for route, field in ADDRESS_FIELDS}


class TestAddressFields:
    @pytest.mark.parametrize("hostile", HOSTILE_ADDRESSES.values(), ids=HOSTILE_ADDRESSES.keys())
    @pytest.mark.parametrize(("route", "field"), ADDRESS_FIELDS, ids=str)
    async def test_a_header_injection_in_any_address_field_is_a_400_at_its_index(
        self, api: Api, route: Route, field: str, hostile: str
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        nothing = Nothing(api.world)
        body = {field: ["first@x.io", "second@x.io", hostile]}
        response = await api.client.post(
            route.url(target.id), headers=api.headers(OLIVIA), json=body
        )
        problem = _problem(response, 400, "VALIDATION_FAILED")
        assert [(e["code"], e["field"]) for e in problem["errors"]] == [("F-E-012", f"{field}[2]")]
        await nothing.was_queued_or_sent()

    @pytest.mark.parametrize(("route", "field"), ADDRESS_FIELDS, ids=str)
    async def test_the_same_list_with_a_plain_third_address_is_accepted(
        self, api: Api, route: Route, field: str
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        body = {field: ["first@x.io", "second@x.io", "third@x.io"]}
        response = await api.client.post(
            route.url(target.id), headers=api.headers(OLIVIA), json=body
        )
        assert response.status_code in (200, 202), response.text
        answer = response.json()
        accepted = answer["recipients"][field] if route is RESEND else answer[field]
        assert accepted == body[field]


class TestBodySize:
    @staticmethod
    def _padded(size: int) -> bytes:
        prefix, suffix = b'{"cc": [], "pad": "', b'"}'
        return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix

    @pytest.mark.parametrize("framing", ["content-length", "chunked"])
    @pytest.mark.parametrize("route", POSTS, ids=str)
    async def test_a_body_over_64_kib_is_a_413_and_nothing_is_queued(
        self, api: Api, route: Route, framing: str
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        raw = self._padded(LIMIT + 1)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(raw), 4096):
                yield raw[start : start + 4096]

        nothing = Nothing(api.world)
        response = await api.client.post(
            route.url(target.id),
            headers=api.headers(OLIVIA, **{"content-type": "application/json"}),
            content=raw if framing == "content-length" else chunks(),
        )
        assert ("content-length" in response.request.headers) == (framing == "content-length")
        _problem(response, 413, "PAYLOAD_TOO_LARGE")
        await nothing.was_queued_or_sent()

    @pytest.mark.parametrize("route", POSTS, ids=str)
    async def test_exactly_64_kib_is_accepted(self, api: Api, route: Route) -> None:
        target = await api.world.add_export(export(OLIVIA))
        response = await api.client.post(
            route.url(target.id),
            headers=api.headers(OLIVIA, **{"content-type": "application/json"}),
            content=self._padded(LIMIT),
        )
        assert response.status_code in (200, 202), response.text

    @pytest.mark.parametrize("route", POSTS, ids=str)
    async def test_a_declared_length_over_64_kib_is_refused_before_the_body_is_read(
        self, api: Api, route: Route
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        response = await asgi.call(
            create_app(container=api.world.container),
            "POST",
            route.url(target.id),
            headers=[
                *((k.encode(), v.encode()) for k, v in api.headers(OLIVIA).items()),
                (b"content-type", b"application/json"),
                (b"content-length", str(LIMIT + 1).encode()),
            ],
            chunks=[self._padded(LIMIT + 1)],
        )
        assert (response.status, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
        assert response.reads == 0

    @pytest.mark.parametrize("route", POSTS, ids=str)
    async def test_a_declared_length_that_lies_low_does_not_let_a_large_body_through(
        self, api: Api, route: Route
    ) -> None:
        target = await api.world.add_export(export(OLIVIA))
        raw = self._padded(LIMIT + 1)
        nothing = Nothing(api.world)
        response = await asgi.call(
            create_app(container=api.world.container),
            "POST",
            route.url(target.id),
            headers=[
                *((k.encode(), v.encode()) for k, v in api.headers(OLIVIA).items()),
                (b"content-type", b"application/json"),
                (b"content-length", b"10"),
            ],
            chunks=[raw[:30000], raw[30000:]],
        )
        assert (response.status, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
        await nothing.was_queued_or_sent()


async def _count(world: World) -> tuple[int, int, int]:
    store = world.store
    return len(store.deliveries), len(store.exports), len(store.jobs)


FUZZ_EXAMPLES = 10_000


def test_ten_thousand_malformed_requests_never_crash_and_never_send_an_email_unasked() -> None:
    """Every route, any headers and body (see tests/e2e/malformed.py): never a 5xx, always a
    problem with a stable code, and nothing queued or sent but what a valid request asked for;
    then every export queued is generated and every email sent, as queued. Driven straight
    through ASGI on one in-memory world, so that 10,000 requests take seconds; the same run
    on the SQL databases is tests/integration/test_fuzz_on_sql.py."""
    world = make_world(resend_limit_per_hour=10_000, demo_rows=10)  # the limit has its tests
    with asyncio.Runner() as runner:
        stage = runner.run(malformed.build_stage(world.container, lambda: _count(world)))
        malformed.fuzz(runner, stage, FUZZ_EXAMPLES)
    stage.check_reach(10)
