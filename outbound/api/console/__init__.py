"""The compliance console at ``/console``: server-rendered pages (Jinja2), no JavaScript.

Pages: login; find a customer; the customer's one history with its evidence exports; a
notification's decision (the text of ``outbound why``); the audit log with filters, the chain's
verify status, its last checkpoint and time-range exports; campaigns with their report and
chart (operators may pause and resume them); erasure for the roles in ``[console]
erase_roles``. Compliance reads; operators also pause and resume.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from outbound.api.console.auth import Auth, NotSignedIn, PageRefused, login_redirect
from outbound.api.console.pages import install_pages
from outbound.api.console.session import install_login
from outbound.api.deps import ApiDeps
from outbound.services.views.chain_status import ChainMonitor

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters["ts"] = _stamp
    found.env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    return found


def install_console(api: FastAPI, app: ApiDeps) -> None:
    """Add the console's routes, its stylesheet and its error pages to ``api``."""
    console = app.console
    chain = ChainMonitor(
        app.audit_key,
        app.audit.checkpoint_to,
        timedelta(minutes=console.verify_full_minutes),
    )
    auth = Auth(
        console,
        app.engine,
        app.clock,
        templates(),
        chain,
        checkpoint_to=app.audit.checkpoint_to,
        erasure_secret=app.erasure_secret,
    )
    api.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    install_login(api, auth)
    install_pages(api, auth)

    @api.middleware("http")
    async def no_script(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The console runs no script: a browser refuses any that reaches a page (an inlined
        chart included), and no other site may frame it."""
        response = await call_next(request)
        if request.url.path.startswith("/console"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @api.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.method != "GET":
            return _refusal(auth, request, PageRefused(403, "Not signed in", "Sign in first."))
        return login_redirect(exc.target)

    @api.exception_handler(PageRefused)
    async def refused(request: Request, exc: PageRefused) -> Response:
        return _refusal(auth, request, exc)

    @api.get("/console/", include_in_schema=False)
    async def slash() -> RedirectResponse:
        return RedirectResponse("/console", status_code=308)


def _refusal(auth: Auth, request: Request, exc: PageRefused) -> HTMLResponse:
    return auth.templates.TemplateResponse(
        request,
        "refused.html",
        {"title": exc.title, "message": exc.message, "viewer": None},
        status_code=exc.status,
    )
