"""The console's pages about customers. Each reads in one transaction; a page about a customer
also appends the audit event that records who looked (so the view and its record exist
together). Exports, the audit log, campaigns and erasure have their own modules."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from outbound.api.console.audit_pages import install_audit_pages
from outbound.api.console.auth import Auth, PageRefused, check_csrf, read_form, signed_in
from outbound.api.console.campaign_pages import install_campaign_pages
from outbound.api.console.erasure import install_erasure
from outbound.api.console.exports import install_exports
from outbound.api.console.views import customer_id, page, path_id, read
from outbound.domain.masking import mask_text
from outbound.observability import status as operations
from outbound.services.checkpoints import scheduled_file
from outbound.services.views import console
from outbound.services.views.explain import explain
from outbound.services.views.history import customer_of_notification, notification_report


def checkpoint_file(target: str) -> Any:
    return scheduled_file(target) if target else None


def install_pages(api: FastAPI, auth: Auth) -> None:
    _customer_pages(api, auth)
    _decision_page(api, auth)
    install_exports(api, auth)
    install_erasure(api, auth)
    install_audit_pages(api, auth)
    install_campaign_pages(api, auth)


def _customer_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request, q: str = "") -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def search(conn: Connection) -> tuple[list[dict[str, Any]], Any]:
            if q.strip():
                console.record_search(conn, viewer.actor, q, auth.clock())
            ops = operations.read_on(conn, auth.clock(), checkpoint_file(auth.checkpoint_to))
            return console.find_customers(conn, q), ops  # the front page: `outbound status`

        found, ops = await run_in_threadpool(read, auth, search)
        return page(auth, request, "home.html", viewer, q=q, found=found, ops=ops)

    @api.get("/console/customers/{cid}", response_class=HTMLResponse, include_in_schema=False)
    async def customer(request: Request, cid: int = path_id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def load(conn: Connection) -> dict[str, Any]:
            console.record_view(conn, viewer.actor, customer_id(conn, cid), "history", auth.clock())
            return console.history(conn, cid)

        data = await run_in_threadpool(read, auth, load)
        return page(auth, request, "customer.html", viewer, c=data, revealed=None)

    @api.post(
        "/console/customers/{cid}/reveal", response_class=HTMLResponse, include_in_schema=False
    )
    async def reveal(request: Request, cid: int = path_id()) -> HTMLResponse:
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
            console.record_view(conn, viewer.actor, customer_id(conn, cid), "history", now)
            return console.history(conn, cid), console.reveal(conn, viewer.actor, cid, now)

        data, revealed = await run_in_threadpool(read, auth, load)
        return page(auth, request, "customer.html", viewer, c=data, revealed=revealed)


def _decision_page(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/notifications/{nid}", response_class=HTMLResponse, include_in_schema=False)
    async def decision(request: Request, nid: int = path_id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def load(conn: Connection) -> tuple[dict[str, Any], int]:
            report = notification_report(conn, nid)
            cid = customer_of_notification(conn, nid)
            console.record_view(conn, viewer.actor, cid, f"notification {nid}", auth.clock())
            return report, cid

        report, cid = await run_in_threadpool(read, auth, load)
        text = mask_text(explain(report))
        return page(auth, request, "decision.html", viewer, n=report, cid=cid, why=text)
