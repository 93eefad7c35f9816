"""The operator page's endpoints: each reads the request, calls the same use case as the API,
and renders a template. No rule lives here: refusals are the use cases' own."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from export_resend.adapters.ui import forms
from export_resend.adapters.ui.once import submit_once
from export_resend.adapters.ui.rendering import Renderer
from export_resend.adapters.ui.security import CSRF_FIELD, Guard
from export_resend.application.errors import (
    ClientNotAllowed,
    FieldIssue,
    Unauthenticated,
    ValidationFailed,
)
from export_resend.application.get_export import GetExport
from export_resend.application.idempotency import (
    BeginIdempotentRequest,
    Claim,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ReleaseIdempotencyKey,
)
from export_resend.application.list_export_emails import ListExportEmails
from export_resend.application.list_exports import ListExports, ListExportsCommand
from export_resend.application.request_export import (
    COMMANDS,
    ExportRequestSummary,
    RequestExport,
)
from export_resend.application.resend_export_email import (
    ResendExportEmail,
    ResendExportEmailCommand,
    ResendSummary,
)
from export_resend.application.sessions import ResumeSession, SignIn, SignOut
from export_resend.application.validation import validate
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.errors import ExportNotFound, ExportNotReady, ResendRateLimited
from export_resend.domain.export import ExportStatus
from export_resend.domain.export_types import KINDS, ExportType, requestable_types
from export_resend.domain.recipients import MAX_CC_RECIPIENTS

PAGE_SIZE = 20
NOTICE_MAX_AGE = 3600


class NotSignedIn(Exception):
    """No session, or one that has ended: the reader is sent to the sign-in page."""


@dataclass(frozen=True, slots=True)
class UseCases:
    """What the page calls: the API's use cases, and the sessions'."""

    sign_in: SignIn
    resume_session: ResumeSession
    sign_out: SignOut
    list_exports: ListExports
    get_export: GetExport
    list_export_emails: ListExportEmails
    resend_export_email: ResendExportEmail
    request_export: RequestExport
    begin_idempotent_request: BeginIdempotentRequest
    release_idempotency_key: ReleaseIdempotencyKey


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in request: its session token and its caller."""

    token: str
    caller: Caller


def _export_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["export_id"])
    except ValueError:
        raise ExportNotFound(UUID(int=0)) from None


def _new_form_key() -> str:
    return uuid.uuid4().hex


class Pages:
    """The endpoints of ``/ui/``."""

    def __init__(
        self,
        *,
        use_cases: UseCases,
        guard: Guard,
        renderer: Renderer,
        secret: str,
        export_types: Collection[ExportType],
    ) -> None:
        self._use = use_cases
        self._guard = guard
        self._render = renderer
        self._notices = URLSafeTimedSerializer(secret, salt="export-resend.ui.notice")
        self._export_types = tuple(t for t in ExportType if t in export_types)

    # -- sessions ---------------------------------------------------------------------

    async def visit(self, request: Request) -> Visit:
        """The signed-in caller of ``request``, authenticated again by its key."""
        token = self._guard.session_token(request)
        if token is None:
            raise NotSignedIn()
        try:
            _, caller = await self._use.resume_session(token)
        except Unauthenticated:
            raise NotSignedIn() from None
        return Visit(token, caller)

    async def sign_in_form(self, request: Request) -> Response:
        if self._guard.session_token(request) is not None:
            try:
                await self.visit(request)
                return RedirectResponse(self._render.url(request, "/"), 303)
            except NotSignedIn:
                pass
        return self._sign_in_page(request)

    def _sign_in_page(
        self,
        request: Request,
        *,
        error: str | None = None,
        client: str = ClientType.OPERATOR.value,
        status: int = 200,
    ) -> Response:
        nonce = self._guard.new_sign_in_nonce()
        response = self._render.page(
            request,
            "sign_in.html",
            None,
            status=status,
            error=error,
            client=client,
            clients=[c.value for c in ClientType],
            csrf=self._guard.csrf_token(nonce),
            signed_out="signed-out" in request.query_params,
        )
        self._guard.set_sign_in_nonce(response, nonce, self._render.cookie_path(request))
        return response

    async def sign_in(self, request: Request) -> Response:
        form = await forms.read_form(request)
        self._guard.check(request, form, self._guard.sign_in_nonce(request))
        client = str(form.get("client") or "")
        try:
            signed_in = await self._use.sign_in(str(form.get("api_key") or "").strip(), client)
        except Unauthenticated:
            error = self._render.gettext(request, None, "This API key is not valid.")
            return self._sign_in_page(request, error=error, client=client, status=401)
        except ClientNotAllowed:
            error = self._render.gettext(request, None, "This API key is not for this client.")
            return self._sign_in_page(request, error=error, client=client, status=403)
        previous = self._guard.session_token(request)
        if previous is not None:  # a new sign-in replaces the browser's session, never adds
            await self._use.sign_out(previous)
        response = RedirectResponse(self._render.url(request, "/"), 303)
        path = self._render.cookie_path(request)
        self._guard.set_session(response, signed_in.token, path)
        self._guard.clear_sign_in(response, path)
        return response

    async def sign_out(self, request: Request) -> Response:
        visit = await self.visit(request)
        form = await forms.read_form(request)
        self._guard.check(request, form, visit.token)
        await self._use.sign_out(visit.token)
        response = RedirectResponse(self._render.url(request, "/sign-in?signed-out=1"), 303)
        self._guard.clear_session(response, self._render.cookie_path(request))
        return response

    # -- my exports -------------------------------------------------------------------

    async def exports(self, request: Request) -> Response:
        visit = await self.visit(request)
        query = {k: v for k, v in request.query_params.items() if k in ("type", "status", "page")}
        query = {k: v for k, v in query.items() if v}
        issues = forms.Issues.none()
        try:
            command = validate(ListExportsCommand, {**query, "size": PAGE_SIZE})
            found = await self._use.list_exports(visit.caller, command)
        except ValidationFailed as exc:
            issues = forms.Issues.of(exc.errors, ("type", "status", "page"))
            command, found = ListExportsCommand(size=PAGE_SIZE), None
        return self._render.page(
            request,
            "exports.html",
            visit,
            status=400 if issues else 200,
            found=found,
            command=command,
            query=query,
            issues=issues,
            types=self._export_types,
            statuses=[s.value for s in ExportStatus],
            page_url=lambda page: self._render.url(
                request, f"/?{urlencode({**query, 'page': page})}"
            ),
        )

    # -- one export -------------------------------------------------------------------

    async def export(self, request: Request) -> Response:
        visit = await self.visit(request)
        return await self._export_page(request, visit, _export_id(request))

    async def _export_page(
        self,
        request: Request,
        visit: Visit,
        export_id: UUID,
        *,
        cc: list[str] | None = None,
        add: int = 0,
        issues: forms.Issues | None = None,
        status: int = 200,
    ) -> Response:
        details = await self._use.get_export(visit.caller, export_id)
        history = await self._use.list_export_emails(visit.caller, export_id)
        notice = self._notice(request, export_id)
        shown = list(details.export.cc) if cc is None else cc
        return self._render.page(
            request,
            "export.html",
            visit,
            status=status,
            details=details,
            deliveries=history.deliveries,
            notice=notice,
            cc_rows=forms.cc_rows(shown, add=add),
            issues=issues or forms.Issues.none(),
            form_key=_new_form_key(),
            max_cc=MAX_CC_RECIPIENTS,
        )

    async def export_status(self, request: Request) -> Response:
        visit = await self.visit(request)
        details = await self._use.get_export(visit.caller, _export_id(request))
        return PlainTextResponse(details.status.value)

    async def resend(self, request: Request) -> Response:
        visit = await self.visit(request)
        form = await forms.read_form(request)
        self._guard.check(request, form, visit.token)
        export_id = _export_id(request)
        posted = forms.Posted()
        forms.read_cc(form, posted)
        if form.get("action") == "add-cc":
            return await self._export_page(request, visit, export_id, cc=posted.shown["cc"], add=1)

        async def again(issues: list[FieldIssue], status: int) -> Response:
            return await self._export_page(
                request,
                visit,
                export_id,
                cc=posted.shown["cc"],
                status=status,
                issues=forms.Issues.of(issues, ("cc",), posted.cc_inputs),
            )

        try:
            command = validate(
                ResendExportEmailCommand, {"exportId": export_id, "cc": posted.data["cc"]}
            )

            async def resend(claim: Claim) -> ResendSummary:
                receipt = await self._use.resend_export_email(
                    visit.caller, command, idempotency=claim
                )
                return receipt.summary

            return await submit_once(
                begin=self._use.begin_idempotent_request,
                release=self._use.release_idempotency_key,
                caller=visit.caller,
                name=f"POST /ui/exports/{export_id}/resend",
                key=_form_key(form),
                fields={"cc": posted.data["cc"]},
                call=resend,
                replayed=ResendSummary.from_data,
                redirect_to=lambda summary: self._resent_url(request, summary),
            )
        except ValidationFailed as exc:
            return await again(list(exc.errors), 400)
        except (IdempotencyKeyReused, IdempotencyKeyInUse) as exc:
            return await again([_refusal(self._render, request, visit, exc)], 409)
        except (ExportNotReady, ResendRateLimited) as exc:
            status = 429 if isinstance(exc, ResendRateLimited) else 409
            return await again([_refusal(self._render, request, visit, exc)], status)

    def _resent_url(self, request: Request, resent: ResendSummary) -> str:
        notice = {
            "export": str(resent.export_id),
            "kind": "resent",
            "delivery": str(resent.delivery_id),
            "to": resent.recipients.to,
            "cc": list(resent.recipients.cc),
            "warnings": [[w.code, w.field, w.message] for w in resent.warnings],
        }
        return self._export_url(request, resent.export_id, notice)

    def _export_url(self, request: Request, export_id: UUID, notice: dict[str, Any]) -> str:
        token = self._notices.dumps(notice)
        return self._render.url(request, f"/exports/{export_id}?notice={token}")

    def _notice(self, request: Request, export_id: UUID) -> dict[str, Any] | None:
        token = request.query_params.get("notice")
        if not token:
            return None
        try:
            notice: dict[str, Any] = self._notices.loads(token, max_age=NOTICE_MAX_AGE)
        except BadSignature:
            return None
        return notice if notice.get("export") == str(export_id) else None

    # -- request an export ------------------------------------------------------------

    def _requestable(self, caller: Caller) -> list[ExportType]:
        allowed = requestable_types(caller.client_type)
        return [t for t in self._export_types if t in allowed]

    async def request_forms(self, request: Request) -> Response:
        visit = await self.visit(request)
        return self._request_page(request, visit)

    def _request_page(
        self,
        request: Request,
        visit: Visit,
        *,
        failed: ExportType | None = None,
        posted: forms.Posted | None = None,
        issues: forms.Issues | None = None,
        add: int = 0,
        status: int = 200,
    ) -> Response:
        sections = []
        for export_type in self._requestable(visit.caller):
            inputs = forms.inputs_of(COMMANDS[export_type])
            mine = export_type is failed and posted is not None
            shown = posted.shown if mine and posted is not None else {}
            sections.append(
                {
                    "type": export_type,
                    "slug": KINDS[export_type].slug,
                    "inputs": inputs,
                    "shown": shown,
                    "cc_rows": forms.cc_rows(shown.get("cc", []), add=add if mine else 0),
                    "issues": issues if mine and issues is not None else forms.Issues.none(),
                    "form_key": _new_form_key(),
                }
            )
        return self._render.page(
            request,
            "request.html",
            visit,
            status=status,
            sections=sections,
            failed=failed,
            max_cc=MAX_CC_RECIPIENTS,
        )

    async def request_export(self, request: Request) -> Response:
        visit = await self.visit(request)
        form = await forms.read_form(request)
        self._guard.check(request, form, visit.token)
        slug = request.path_params["slug"]
        export_type = next((t for t, k in KINDS.items() if k.slug == slug), None)
        if export_type is None or export_type not in self._export_types:
            raise ExportNotFound(UUID(int=0))
        self._use.request_export.check_allowed(visit.caller, export_type)
        inputs = forms.inputs_of(COMMANDS[export_type])
        posted = forms.read(form, inputs, self._render.reader(request, visit))
        if form.get("action") == "add-cc":
            return self._request_page(request, visit, failed=export_type, posted=posted, add=1)

        def again(issues: list[FieldIssue], status: int) -> Response:
            names = tuple(i.name for i in inputs)
            return self._request_page(
                request,
                visit,
                failed=export_type,
                posted=posted,
                status=status,
                issues=forms.Issues.of(issues, names, posted.cc_inputs),
            )

        try:
            command = validate(COMMANDS[export_type], posted.data)

            async def ask(claim: Claim) -> ExportRequestSummary:
                requested = await self._use.request_export(
                    visit.caller, export_type, command, idempotency=claim
                )
                return requested.summary

            return await submit_once(
                begin=self._use.begin_idempotent_request,
                release=self._use.release_idempotency_key,
                caller=visit.caller,
                name=f"POST /ui/request/{slug}",
                key=_form_key(form),
                fields=posted.data,
                call=ask,
                replayed=ExportRequestSummary.from_data,
                redirect_to=lambda summary: self._requested_url(request, summary),
            )
        except ValidationFailed as exc:
            return again(list(exc.errors), 400)
        except (IdempotencyKeyReused, IdempotencyKeyInUse) as exc:
            return again([_refusal(self._render, request, visit, exc)], 409)

    def _requested_url(self, request: Request, requested: ExportRequestSummary) -> str:
        notice = {
            "export": str(requested.export_id),
            "kind": "requested",
            "warnings": [[w.code, w.field, w.message] for w in requested.warnings],
        }
        return self._export_url(request, requested.export_id, notice)


def _form_key(form: FormData) -> str:
    key = form.get("idempotency_key")
    if not isinstance(key, str) or not key:
        raise ValidationFailed(
            [FieldIssue("F-E-001", "idempotency_key", "the form has no key: reload the page")]
        )
    return key


def _refusal(renderer: Renderer, request: Request, visit: Visit, exc: Exception) -> FieldIssue:
    """A use case's refusal as a message for the whole form."""
    text = renderer.refusal(request, visit, exc)
    return FieldIssue(type(exc).__name__, "form", text)


__all__ = ["CSRF_FIELD", "NotSignedIn", "Pages", "UseCases", "Visit"]
