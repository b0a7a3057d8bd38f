"""The console's pages. Each reads in one transaction; a page about a customer also appends the
audit event that records who looked (so the view and its record exist together)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import Auth, PageRefused, check_csrf, read_form, signed_in
from outbound.cli.reports import explain
from outbound.domain.errors import NotFoundError
from outbound.domain.masking import mask_text
from outbound.services import campaigns as campaign_service
from outbound.services import console
from outbound.services.accounts import Viewer
from outbound.services.reports import notification_report
from outbound.store import audit
from outbound.store.tables import customers, notifications

T = TypeVar("T")


def _id() -> Any:
    """A positive database id in the path (a new marker per route: FastAPI binds it to a name)."""
    return FastPath(ge=1, le=2**63 - 1)


def install_pages(api: FastAPI, auth: Auth) -> None:
    _customer_pages(api, auth)
    _evidence_pages(api, auth)
    _audit_pages(api, auth)
    _campaign_pages(api, auth)


def _read(auth: Auth, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction; an unknown id is a 404 page."""
    try:
        with auth.engine.begin() as conn:
            return work(conn)
    except NotFoundError as exc:
        raise PageRefused(404, "Not found", str(exc)) from None


def page(
    auth: Auth, request: Request, name: str, viewer: Viewer, status: int = 200, **values: Any
) -> HTMLResponse:
    context = {"viewer": viewer, "csrf": viewer.csrf_token, "may_reveal": auth.may_reveal(viewer)}
    return auth.templates.TemplateResponse(request, name, {**context, **values}, status_code=status)


def _customer_id(conn: Connection, cid: int) -> int:
    if conn.execute(select(customers.c.id).where(customers.c.id == cid)).first() is None:
        raise NotFoundError(f"customer #{cid} not found; search by external id or phone digits")
    return cid


def _customer_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request, q: str = "") -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def search(conn: Connection) -> list[dict[str, Any]]:
            if q.strip():
                console.record_search(conn, viewer.actor, q, auth.clock())
            return console.find_customers(conn, q)

        found = await run_in_threadpool(_read, auth, search)
        return page(auth, request, "home.html", viewer, q=q, found=found)

    @api.get("/console/customers/{cid}", response_class=HTMLResponse, include_in_schema=False)
    async def customer(request: Request, cid: int = _id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def load(conn: Connection) -> dict[str, Any]:
            console.record_view(
                conn, viewer.actor, _customer_id(conn, cid), "history", auth.clock()
            )
            return console.history(conn, cid)

        data = await run_in_threadpool(_read, auth, load)
        return page(auth, request, "customer.html", viewer, c=data, revealed=None)

    @api.post(
        "/console/customers/{cid}/reveal", response_class=HTMLResponse, include_in_schema=False
    )
    async def reveal(request: Request, cid: int = _id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        check_csrf(viewer.csrf_token, await read_form(request))
        if not auth.may_reveal(viewer):
            raise PageRefused(
                403,
                "Reveal not allowed",
                f"Role {viewer.role!r} may not reveal phone numbers or push endpoints; "
                f"roles allowed by [console] reveal_roles: {', '.join(auth.settings.reveal_roles) or 'none'}.",
            )

        def load(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
            now = auth.clock()
            console.record_view(conn, viewer.actor, _customer_id(conn, cid), "history", now)
            return console.history(conn, cid), console.reveal(conn, viewer.actor, cid, now)

        data, revealed = await run_in_threadpool(_read, auth, load)
        return page(auth, request, "customer.html", viewer, c=data, revealed=revealed)


def _evidence_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/customers/{cid}/evidence.jsonl", include_in_schema=False)
    async def evidence(request: Request, cid: int = _id()) -> Response:
        viewer = await signed_in(auth, request)

        def load(conn: Connection) -> str:
            cid_ = _customer_id(conn, cid)
            now = auth.clock()
            console.record_view(conn, viewer.actor, cid_, "evidence", now, "console.export")
            return "".join(
                json.dumps(line, ensure_ascii=False, default=str) + "\n"
                for line in console.evidence_lines(conn, cid)
            )

        body = await run_in_threadpool(_read, auth, load)
        name = f"customer-{cid}-evidence-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
        return Response(
            body,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @api.get("/console/notifications/{nid}", response_class=HTMLResponse, include_in_schema=False)
    async def decision(request: Request, nid: int = _id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def load(conn: Connection) -> tuple[dict[str, Any], int]:
            report = notification_report(conn, nid)
            cid = conn.execute(
                select(notifications.c.customer_id).where(notifications.c.id == nid)
            ).scalar_one()
            console.record_view(conn, viewer.actor, int(cid), f"notification {nid}", auth.clock())
            return report, int(cid)

        report, cid = await run_in_threadpool(_read, auth, load)
        text = mask_text(explain(report, plain=True))
        return page(auth, request, "decision.html", viewer, n=report, cid=cid, why=text)


def _audit_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/audit", response_class=HTMLResponse, include_in_schema=False)
    async def audit_log(
        request: Request,
        actor: str = "",
        action: str = "",
        subject: str = "",
        since: str = "",
        until: str = "",
        before: int | None = None,
    ) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        where = console.AuditFilter(
            actor.strip(),
            action.strip(),
            subject.strip(),
            _when("since", since),
            _when("until", until),
        )
        size = auth.settings.page_size

        def load(conn: Connection) -> tuple[list[dict[str, Any]], int | None, audit.VerifyResult]:
            rows, more = console.audit_page(conn, where, before=before, size=size)
            return rows, more, audit.verify(conn)

        rows, more, verified = await run_in_threadpool(_read, auth, load)
        filters = {
            "actor": where.actor,
            "action": where.action,
            "subject": where.subject,
            "since": since,
            "until": until,
        }
        return page(
            auth,
            request,
            "audit.html",
            viewer,
            rows=rows,
            more=more,
            verified=verified,
            filters=filters,
            query={k: v for k, v in filters.items() if v},
        )


def _when(field: str, value: str) -> datetime | None:
    """A ``datetime-local`` form value (YYYY-MM-DDTHH:MM), read as UTC."""
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PageRefused(
            400,
            f"Bad {field} time",
            f"{field} {value[:40]!r} is not a time; give it like 2026-12-01T09:30 (UTC)",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _campaign_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/campaigns", response_class=HTMLResponse, include_in_schema=False)
    async def campaign_list(request: Request) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        rows = await run_in_threadpool(_read, auth, console.campaigns_overview)
        return page(auth, request, "campaigns.html", viewer, campaigns=rows)

    @api.post("/console/campaigns/{cid}/{verb}", include_in_schema=False)
    async def campaign_status(request: Request, verb: str, cid: int = _id()) -> Response:
        viewer = await signed_in(auth, request)
        check_csrf(viewer.csrf_token, await read_form(request))
        status = {"pause": "paused", "resume": "active"}.get(verb)
        if status is None:
            raise PageRefused(
                404, "Not found", f"no campaign action {verb[:20]!r}; use pause or resume"
            )
        if not viewer.may_operate:
            raise PageRefused(
                403,
                "Not allowed",
                f"Role {viewer.role!r} reads only; an operator account may pause or resume campaigns.",
            )

        def change(conn: Connection) -> None:
            campaign_service.set_status(conn, cid, status, now=auth.clock(), actor=viewer.actor)

        await run_in_threadpool(_read, auth, change)
        return RedirectResponse("/console/campaigns", status_code=303)
