"""The operator page through the service's app, without a browser: its security (headers,
cookies, CSRF, sessions ended by sign-out and by revocation), who sees what (the API's
matrix), and that a form sent twice does its work once."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from export_resend import ExportResend
from export_resend.adapters.ui.security import PAGE_POLICY
from export_resend.application.sessions import token_digest
from export_resend.domain.caller import Caller
from export_resend.domain.export import Export, ExportStatus, ExportType
from export_resend.main import create_app
from tests.conftest import World, issue_key, make_world
from tests.e2e.conftest import OLIVIA, OSCAR, OTTO, SAM
from tests.e2e.test_embedding import PREFIX, Host
from tests.factories import caller, export

NAMESAKE = caller("olivia", "globex")
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_FORM_KEY = re.compile(r'name="idempotency_key" value="([^"]*)"')


@dataclass
class Page:
    """A client of the page (cookies kept, redirects not followed) and its world."""

    client: httpx.AsyncClient
    world: World

    async def sign_in(self, who: Caller, client: str | None = None) -> httpx.Response:
        if f"{who.user_id}@{who.tenant_id}" not in self.world.keys:
            await self.world.add_caller(who)
        form = await self.client.get("/ui/sign-in")
        return await self.client.post(
            "/ui/sign-in",
            data={
                "csrf_token": csrf(form),
                "api_key": self.world.keys[f"{who.user_id}@{who.tenant_id}"],
                "client": client or who.client_type.value,
            },
        )

    async def resend(self, export_id: UUID, cc: list[str], **extra: str) -> httpx.Response:
        page = await self.client.get(f"/ui/exports/{export_id}")
        data: dict[str, Any] = {
            "csrf_token": csrf(page),
            "idempotency_key": form_key(page),
            "cc": cc,
            "action": "send",
            **extra,
        }
        return await self.client.post(f"/ui/exports/{export_id}/resend", data=data)


def csrf(response: httpx.Response) -> str:
    found = _CSRF.search(response.text)
    assert found, response.text
    return found[1]


def form_key(response: httpx.Response) -> str:
    found = _FORM_KEY.search(response.text)
    assert found, response.text
    return found[1]


async def _page_on(world: World, base_url: str = "http://testserver") -> AsyncIterator[Page]:
    app = create_app(container=world.container)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base_url) as client,
    ):
        yield Page(client, world)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async for page in _page_on(make_world(api_key_cache_seconds=0)):
        yield page


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name in parsed:
            cookies[name] = parsed
    return cookies


class TestHeaders:
    async def test_every_page_and_asset_sends_the_security_headers(self, page: Page) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        signed_out = [await page.client.get("/ui/sign-in")]
        await page.sign_in(OLIVIA)
        signed_in = [
            await page.client.get(path)
            for path in (
                "/ui/",
                f"/ui/exports/{target.id}",
                "/ui/request",
                f"/ui/exports/{uuid4()}",
            )
        ]
        asset = await page.client.get("/ui/static/ui.css")
        for response in [*signed_out, *signed_in, asset]:
            headers = response.headers
            assert headers["content-security-policy"] == PAGE_POLICY, response.url
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            assert headers["cross-origin-opener-policy"] == "same-origin"
        for response in [*signed_out, *signed_in]:
            assert response.headers["cache-control"] == "no-store"
        assert asset.headers["cache-control"] == "no-cache"
        assert [r.status_code for r in signed_in] == [200, 200, 200, 404]

    async def test_the_policy_allows_no_inline_script_or_style_and_the_pages_use_none(
        self, page: Page
    ) -> None:
        assert "unsafe-inline" not in PAGE_POLICY
        assert "script-src 'self';" in PAGE_POLICY
        assert "frame-ancestors 'none'" in PAGE_POLICY
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        for path in ("/ui/", f"/ui/exports/{target.id}", "/ui/request"):
            html = (await page.client.get(path)).text
            assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], path
            assert "<style" not in html
            assert " style=" not in html
            assert re.findall(r"\son[a-z]+=", html) == [], path

    async def test_the_api_reference_is_served_under_its_own_policy(self, page: Page) -> None:
        docs = await page.client.get("/docs")
        assert docs.status_code == 200
        assert "unsafe-inline" not in docs.headers["content-security-policy"]
        assert "script-src 'self';" in docs.headers["content-security-policy"]
        for src in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', docs.text):
            asset = await page.client.get(src)
            assert asset.status_code == 200, src
        assert 'data-spec="/openapi.json"' in docs.text
        assert 'href="/ui/"' in docs.text


class TestCookies:
    async def test_the_session_cookie_is_http_only_strict_signed_and_not_secure_on_http(
        self, page: Page
    ) -> None:
        signed_in = await page.sign_in(OLIVIA)
        assert signed_in.status_code == 303
        cookie = _set_cookies(signed_in)["export_resend_session"]["export_resend_session"]
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "strict"
        assert cookie["path"] == "/ui"
        assert not cookie["secure"]
        assert int(cookie["max-age"]) == 8 * 3600
        token = cookie.value.split(".")[0]
        assert page.world.keys["olivia@acme"] not in cookie.value
        stored = page.world.container.sessions()._inner  # the store behind the lifecycle
        assert await stored.get(token_digest(token)) is not None

    async def test_with_an_https_public_url_the_cookies_are_secure(self) -> None:
        world = make_world(public_base_url="https://exports.example.com")
        async for page in _page_on(world, "https://exports.example.com"):
            form = await page.client.get("/ui/sign-in")
            [(name, jar)] = _set_cookies(form).items()
            assert name == "__Secure-export_resend_sign_in"
            assert jar[name]["secure"] is True
            signed_in = await page.sign_in(OLIVIA)
            jar = _set_cookies(signed_in)["__Secure-export_resend_session"]
            assert jar["__Secure-export_resend_session"]["secure"] is True
            assert (await page.client.get("/ui/")).status_code == 200

    async def test_a_cookie_whose_signature_fails_opens_nothing(self, page: Page) -> None:
        signed_in = await page.sign_in(OLIVIA)
        value = _set_cookies(signed_in)["export_resend_session"]["export_resend_session"].value
        token = value.split(".")[0]
        page.client.cookies.clear()
        page.client.cookies.set("export_resend_session", token, path="/ui")
        assert (await page.client.get("/ui/")).headers["location"] == "/ui/sign-in"


class TestCsrf:
    async def test_a_resend_without_the_token_of_its_session_is_refused(self, page: Page) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        other = Page(page.client, page.world)
        forged_tokens: list[dict[str, str]] = [{}, {"csrf_token": "0" * 64}]
        async for second in _page_on(page.world):
            await second.sign_in(OLIVIA)
            own = await second.client.get(f"/ui/exports/{target.id}")
            forged_tokens.append({"csrf_token": csrf(own)})  # another session's token
        for forged in forged_tokens:
            refused = await other.client.post(
                f"/ui/exports/{target.id}/resend",
                data={"idempotency_key": uuid4().hex, "cc": "a@example.com", **forged},
            )
            assert refused.status_code == 403
            assert "The form has expired" in refused.text
        assert page.world.store.deliveries == {}

    async def test_a_form_posted_from_another_site_is_refused_even_with_its_token(
        self, page: Page
    ) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        accepted = await page.resend(target.id, ["a@example.com"])
        assert accepted.status_code == 303  # the same form from the page itself is accepted
        view = await page.client.get(f"/ui/exports/{target.id}")
        cross = await page.client.post(
            f"/ui/exports/{target.id}/resend",
            data={"csrf_token": csrf(view), "idempotency_key": form_key(view), "cc": []},
            headers={"sec-fetch-site": "cross-site"},
        )
        assert cross.status_code == 403
        assert len(page.world.store.deliveries) == 1

    async def test_sign_in_and_sign_out_need_their_tokens_too(self, page: Page) -> None:
        await page.world.add_caller(OLIVIA)
        await page.client.get("/ui/sign-in")
        refused = await page.client.post(
            "/ui/sign-in", data={"api_key": page.world.keys["olivia@acme"], "client": "OPERATOR"}
        )
        assert refused.status_code == 403
        assert "export_resend_session" not in _set_cookies(refused)
        await page.sign_in(OLIVIA)
        kept = await page.client.post("/ui/sign-out", data={})
        assert kept.status_code == 403
        assert (await page.client.get("/ui/")).status_code == 200


class TestSessions:
    async def test_sign_out_ends_the_session_on_the_server(self, page: Page) -> None:
        await page.sign_in(OLIVIA)
        cookie = dict(page.client.cookies)
        listing = await page.client.get("/ui/")
        out = await page.client.post("/ui/sign-out", data={"csrf_token": csrf(listing)})
        assert out.status_code == 303
        assert out.headers["location"] == "/ui/sign-in?signed-out=1"
        assert 'export_resend_session=""' in out.headers["set-cookie"]
        page.client.cookies.clear()
        for name, value in cookie.items():
            page.client.cookies.set(name, value, path="/ui")
        again = await page.client.get("/ui/")
        assert again.status_code == 303
        assert again.headers["location"] == "/ui/sign-in"

    async def test_a_revoked_key_ends_its_sessions(self, page: Page) -> None:
        await page.sign_in(OLIVIA)
        assert (await page.client.get("/ui/")).status_code == 200
        [record] = await page.world.api_keys.list("acme")
        assert record.key_id is not None
        await page.world.container.revoke_api_key()(record.key_id)
        ended = await page.client.get("/ui/")
        assert ended.headers["location"] == "/ui/sign-in"
        assert page.world.container.sessions()._inner._sessions == {}  # type: ignore[attr-defined]

    async def test_a_wrong_key_or_client_type_is_told_and_opens_nothing(self, page: Page) -> None:
        wrong_client = await page.sign_in(OLIVIA, client="SUPPLIER")
        assert wrong_client.status_code == 403
        assert "not for this client" in wrong_client.text
        form = await page.client.get("/ui/sign-in")
        unknown = await page.client.post(
            "/ui/sign-in",
            data={"csrf_token": csrf(form), "api_key": "erk_nope", "client": "OPERATOR"},
        )
        assert unknown.status_code == 401
        assert 'aria-invalid="true"' in unknown.text
        assert (await page.client.get("/ui/")).status_code == 303

    async def test_an_idle_session_ends(self, page: Page) -> None:
        await page.sign_in(OLIVIA)
        page.world.clock.advance(timedelta(minutes=29))
        assert (await page.client.get("/ui/")).status_code == 200
        page.world.clock.advance(timedelta(minutes=29))
        assert (await page.client.get("/ui/")).status_code == 200  # each use pushes it back
        page.world.clock.advance(timedelta(minutes=31))
        assert (await page.client.get("/ui/")).status_code == 303


async def _as(page: Page, who: Caller) -> None:
    page.client.cookies.clear()
    signed_in = await page.sign_in(who)
    assert signed_in.status_code == 303, signed_in.text


class TestWhoSeesWhat:
    @pytest.mark.parametrize("status", list(ExportStatus))
    @pytest.mark.parametrize(
        ("visitor", "answer"),
        [(OTTO, 404), (NAMESAKE, 404), (OSCAR, 403)],
        ids=["other-tenant", "namesake", "colleague"],
    )
    async def test_another_users_export_is_never_shown_nor_resent(
        self, page: Page, visitor: Caller, answer: int, status: ExportStatus
    ) -> None:
        target = await page.world.add_export(
            export(OLIVIA, status, cc=("secret-cc@acme.example.com",))
        )
        await _as(page, visitor)
        for path in (f"/ui/exports/{target.id}", f"/ui/exports/{target.id}/status"):
            shown = await page.client.get(path)
            assert shown.status_code == answer, path
            assert "secret-cc@" not in shown.text
            assert OLIVIA.email not in shown.text
        listing = await page.client.get("/ui/")
        posted = await page.client.post(
            f"/ui/exports/{target.id}/resend",
            data={"csrf_token": csrf(listing), "idempotency_key": uuid4().hex, "cc": []},
        )
        assert posted.status_code == answer
        assert page.world.store.deliveries == {}

    async def test_my_exports_lists_only_mine_whatever_the_filters(self, page: Page) -> None:
        mine: dict[Caller, set[str]] = {}
        for who in (OLIVIA, OSCAR, OTTO, NAMESAKE):
            mine[who] = set()
            for export_type in ExportType:
                for status in ExportStatus:
                    added = await page.world.add_export(
                        export(who, status, export_type=export_type)
                    )
                    mine[who].add(str(added.id))
        every = set().union(*mine.values())
        queries = ["", *(f"type={t.value}" for t in ExportType)]
        queries += [f"status={s.value}" for s in ExportStatus]
        for who in (OLIVIA, OSCAR, OTTO, NAMESAKE):
            await _as(page, who)
            for query in queries:
                html = (await page.client.get(f"/ui/?{query}")).text
                listed = set(re.findall(r"/ui/exports/([0-9a-f-]{36})", html)) & every
                assert listed, query
                assert listed <= mine[who], (who, query)

    async def test_the_request_forms_are_those_the_client_type_may_request(
        self, page: Page
    ) -> None:
        await _as(page, SAM)
        forms = re.findall(
            r'action="/ui/request/([a-z-]+)"', (await page.client.get("/ui/request")).text
        )
        assert forms == ["transaction-events", "funding-transfers"]
        refused = await page.client.post(
            "/ui/request/supplier-payouts",
            data={"csrf_token": csrf(await page.client.get("/ui/")), "idempotency_key": "k"},
        )
        assert refused.status_code == 403
        assert page.world.store.exports == {}


class TestForms:
    async def test_a_resend_sent_twice_queues_one_email_and_answers_alike(self, page: Page) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        view = await page.client.get(f"/ui/exports/{target.id}")
        data = {
            "csrf_token": csrf(view),
            "idempotency_key": form_key(view),
            "cc": ["ceo@acme.example.com"],
        }
        url = f"/ui/exports/{target.id}/resend"
        first, second = await asyncio.gather(
            page.client.post(url, data=data), page.client.post(url, data=data)
        )
        third = await page.client.post(url, data=data)
        assert first.status_code == second.status_code == third.status_code == 303
        assert first.headers["location"] == second.headers["location"] == third.headers["location"]
        assert len(page.world.store.deliveries) == 1
        shown = await page.client.get(first.headers["location"])
        assert "The email is on its way" in shown.text
        assert "ceo@acme.example.com" in shown.text

    async def test_the_same_form_with_other_values_is_refused_with_a_message(
        self, page: Page
    ) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        view = await page.client.get(f"/ui/exports/{target.id}")
        data = {"csrf_token": csrf(view), "idempotency_key": form_key(view), "cc": ["a@x.io"]}
        await page.client.post(f"/ui/exports/{target.id}/resend", data=data)
        other = await page.client.post(
            f"/ui/exports/{target.id}/resend", data={**data, "cc": ["b@x.io"]}
        )
        assert other.status_code == 409
        assert "already sent with other values" in other.text
        assert form_key(other) != data["idempotency_key"]
        assert len(page.world.store.deliveries) == 1

    async def test_a_bad_address_is_told_beside_its_field_in_the_apis_words(
        self, page: Page
    ) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        refused = await page.resend(target.id, ["", "ok@example.com", "Boss <b@example.com>"])
        assert refused.status_code == 400
        field = re.search(r'<input[^>]*id="resend-cc-2"[^>]*>', refused.text, re.S)
        assert field is not None
        assert 'aria-invalid="true"' in field[0]
        assert "resend-cc-2-issues" in field[0]
        issues = re.search(
            r'<ul class="issues error" id="resend-cc-2-issues">(.*?)</ul>', refused.text, re.S
        )
        assert issues is not None
        assert "F-E-012" in issues[1]
        assert "must be a bare address, without a display name or angle brackets" in issues[1]
        assert 'role="alert"' in refused.text
        assert page.world.store.deliveries == {}

    async def test_a_resend_of_an_export_not_ready_is_refused_with_its_status(
        self, page: Page
    ) -> None:
        target = await page.world.add_export(export(OLIVIA, ExportStatus.READY))
        await page.sign_in(OLIVIA)
        view = await page.client.get(f"/ui/exports/{target.id}")
        page.world.store.exports[target.id] = _with_status(target, ExportStatus.FAILED)
        refused = await page.client.post(
            f"/ui/exports/{target.id}/resend",
            data={"csrf_token": csrf(view), "idempotency_key": form_key(view), "cc": []},
        )
        assert refused.status_code == 409
        assert "This export is FAILED" in refused.text

    async def test_an_export_is_requested_with_its_filters_in_the_readers_zone(
        self, page: Page
    ) -> None:
        await page.sign_in(OLIVIA)
        forms = await page.client.get("/ui/request")
        assert re.findall(r'action="/ui/request/([a-z-]+)"', forms.text) == [
            "transaction-events",
            "supplier-payouts",
            "funding-transfers",
            "marketplace-payouts",
        ]
        keys = _FORM_KEY.findall(forms.text)
        asked = await page.client.post(
            "/ui/request/funding-transfers",
            data={
                "csrf_token": csrf(forms),
                "idempotency_key": keys[2],
                "statuses": ["COMPLETED", "FAILED"],
                "amountMin": "100",
                "createdAtFrom": "2026-01-01T00:00",
                "supplierIds": "sup-1\n\nsup-2\n",
                "cc": ["finance@acme.example.com", ""],
            },
        )
        assert asked.status_code == 303, asked.text
        [requested] = page.world.store.exports.values()
        assert requested.type is ExportType.FUNDING_TRANSFERS
        assert requested.cc == ("finance@acme.example.com",)
        assert requested.filters is not None
        assert str(requested.filters.created_at_from) == "2026-01-01 00:00:00+00:00"  # type: ignore[union-attr]
        assert requested.filters.supplier_ids == {"sup-1", "sup-2"}  # type: ignore[union-attr]
        shown = await page.client.get(asked.headers["location"])
        assert "Export requested" in shown.text
        assert "data-poll-status" in shown.text

    async def test_contradictory_filters_are_told_beside_the_field_the_api_names(
        self, page: Page
    ) -> None:
        await page.sign_in(OLIVIA)
        forms = await page.client.get("/ui/request")
        refused = await page.client.post(
            "/ui/request/transaction-events",
            data={
                "csrf_token": csrf(forms),
                "idempotency_key": _FORM_KEY.findall(forms.text)[0],
                "amountMin": "10",
                "amountMax": "5",
            },
        )
        assert refused.status_code == 400
        assert 'id="transaction-events-amountMax-issues"' in refused.text
        assert "must not be below amountMin" in refused.text
        assert page.world.store.exports == {}


def _with_status(target: Export, status: ExportStatus) -> Export:
    return dataclasses.replace(target, status=status, version=target.version + 1)


class TestMounting:
    async def test_without_the_page_the_api_reference_stays(self) -> None:
        world = make_world()
        service = ExportResend(container=world.container, ui=False)
        transport = httpx.ASGITransport(app=service.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            assert (await client.get("/ui/")).status_code == 404
            assert (await client.get("/ui/sign-in")).status_code == 404
            docs = await client.get("/docs")
            assert docs.status_code == 200
            assert 'href="/ui/"' not in docs.text

    async def test_ui_without_a_slash_sends_to_the_page(self, page: Page) -> None:
        moved = await page.client.get("/ui")
        assert moved.status_code == 308
        assert moved.headers["location"] == "/ui/"


async def test_mounted_in_a_host_the_page_follows_the_prefix_and_the_hosts_export_types() -> None:
    host = Host()
    async with host.client() as client:
        key = await issue_key(host.keys, OLIVIA)
        form = await client.get(f"{PREFIX}/ui/sign-in")
        assert f'action="{PREFIX}/ui/sign-in"' in form.text
        assert f'href="{PREFIX}/ui/static/ui.css?v=' in form.text
        assert f'href="{PREFIX}/docs"' in form.text
        signed_in = await client.post(
            f"{PREFIX}/ui/sign-in",
            data={"csrf_token": csrf(form), "api_key": key, "client": "OPERATOR"},
        )
        assert signed_in.headers["location"] == f"{PREFIX}/ui/"
        jar = _set_cookies(signed_in)["export_resend_session"]
        assert jar["export_resend_session"]["path"] == f"{PREFIX}/ui"
        request_forms = await client.get(f"{PREFIX}/ui/request")
        assert re.findall(r'action="([^"]+/request/[a-z-]+)"', request_forms.text) == [
            f"{PREFIX}/ui/request/supplier-payouts"
        ]
        docs = await client.get(f"{PREFIX}/docs")
        assert f'data-spec="{PREFIX}/openapi.json"' in docs.text
        assert (await client.get(f"{PREFIX}/docs/assets/docs.js")).status_code == 200
