"""``/console/audit``: the log with filters, the chain's verify status and its last checkpoint.

The status comes from the console's ``ChainMonitor`` (``outbound.services.views.chain_status``): a
page load checks only the rows appended since the last one, so a large log stays fast; the
"verify the whole chain now" button walks every row.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import Auth, check_csrf, read_form, signed_in
from outbound.api.console.views import page, page_cursor, read, when
from outbound.services.views import console
from outbound.services.views.chain_status import ChainStatus


def install_audit_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/audit", response_class=HTMLResponse, include_in_schema=False)
    async def audit_log(
        request: Request,
        actor: str = "",
        action: str = "",
        subject: str = "",
        since: str = "",
        until: str = "",
        before: str = "",
    ) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        where = console.AuditFilter(
            actor.strip(),
            action.strip(),
            subject.strip(),
            when("since", since),
            when("until", until),
        )
        cursor = page_cursor("before", before)
        size = auth.settings.page_size

        def load(conn: Connection) -> tuple[list[dict[str, Any]], int | None, ChainStatus]:
            rows, more = console.audit_page(conn, where, before=cursor, size=size)
            return rows, more, auth.chain.status(conn, auth.clock())

        rows, more, chain = await run_in_threadpool(read, auth, load)
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
            chain=chain,
            verified=chain.result,
            filters=filters,
            query={k: v for k, v in filters.items() if v},
        )

    @api.post("/console/audit/verify", include_in_schema=False)
    async def verify_whole_chain(request: Request) -> Response:
        viewer = await signed_in(auth, request)
        check_csrf(viewer.csrf_token, await read_form(request))

        def walk(conn: Connection) -> ChainStatus:
            return auth.chain.status(conn, auth.clock(), whole=True)

        await run_in_threadpool(read, auth, walk)
        return RedirectResponse("/console/audit", status_code=303)
