"""The compliance console at ``/console``: server-rendered pages (Jinja2), no JavaScript.

Pages: login; find a customer; the customer's one history; a notification's decision (the
text of ``outbound why``); the audit log with filters and the chain's verify status; campaigns
(operators may pause and resume them). Compliance reads; nothing else changes data.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from outbound.api.console.auth import Auth, NotSignedIn, PageRefused, login_redirect
from outbound.api.console.pages import install_pages
from outbound.api.console.session import install_login
from outbound.bootstrap.app import App

HERE = Path(__file__).resolve().parent


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters["ts"] = _stamp
    found.env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    return found


def install_console(api: FastAPI, app: App) -> None:
    """Add the console's routes, its stylesheet and its error pages to ``api``."""
    auth = Auth(app.settings.console, app.engine, app.clock, templates())
    api.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    install_login(api, auth)
    install_pages(api, auth)

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
