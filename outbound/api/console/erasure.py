"""Forget a customer from the console, as ``outbound customer forget`` does.

Only roles in ``[console] erase_roles`` (none by default) may; it needs ``[privacy]
erasure_key`` like the CLI. Two steps: the customer page links to a confirmation page that says
what goes and what stays; its form (CSRF token, a reason, the customer's external id typed
again) erases. The audit record is the CLI's ``customer.erased`` event, with the console
account as its actor.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import Auth, PageRefused, check_csrf, read_form, signed_in
from outbound.api.console.views import page, path_id, read
from outbound.domain.errors import ConfigError
from outbound.domain.pseudonyms import erasure_key
from outbound.services.people.accounts import Viewer
from outbound.services.people.erasure import Forgotten, forget, subject

MAX_REASON = 500


def _allowed(auth: Auth, viewer: Viewer) -> bytes:
    """The erasure key, once the viewer's role may erase; a refusal page otherwise."""
    if not auth.may_erase(viewer):
        roles = ", ".join(auth.settings.erase_roles) or "none (the default)"
        raise PageRefused(
            403,
            "Erasure not allowed",
            f"Role {viewer.role!r} may not forget customers; roles allowed by [console] "
            f"erase_roles: {roles}. `outbound customer forget` does it on the command line.",
        )
    try:
        return erasure_key(auth.erasure_secret)
    except ConfigError as exc:
        raise PageRefused(409, "Erasure not configured", str(exc)) from None


def _subject(conn: Connection, cid: int) -> dict[str, Any]:
    return subject(conn, cid)


def install_erasure(api: FastAPI, auth: Auth) -> None:
    @api.get(
        "/console/customers/{cid}/forget", response_class=HTMLResponse, include_in_schema=False
    )
    async def confirm(request: Request, cid: int = path_id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        _allowed(auth, viewer)
        who = await run_in_threadpool(read, auth, lambda conn: _subject(conn, cid))
        return page(auth, request, "forget.html", viewer, c=who, reason="", error="")

    @api.post(
        "/console/customers/{cid}/forget", response_class=HTMLResponse, include_in_schema=False
    )
    async def erase(request: Request, cid: int = path_id()) -> Response:
        viewer = await signed_in(auth, request)
        form = await read_form(request)
        check_csrf(viewer.csrf_token, form)
        key = _allowed(auth, viewer)
        who = await run_in_threadpool(read, auth, lambda conn: _subject(conn, cid))
        reason, typed = form.get("reason", "").strip(), form.get("confirm", "").strip()
        error = _problem(reason, typed, str(who["external_id"]))
        if error:
            values = {"c": who, "reason": reason[:MAX_REASON], "error": error}
            return page(auth, request, "forget.html", viewer, 400, **values)

        def work(conn: Connection) -> Forgotten:
            return forget(
                conn, f"#{cid}", key=key, reason=reason, actor=viewer.actor, now=auth.clock()
            )

        await run_in_threadpool(read, auth, work)
        return RedirectResponse(f"/console/customers/{cid}", status_code=303)


def _problem(reason: str, typed: str, external_id: str) -> str:
    if not reason:
        return "Reason is required: say why, e.g. 'GDPR Art. 17 request, ticket 4711'."
    if len(reason) > MAX_REASON:
        return f"Reason is {len(reason)} characters; keep it to {MAX_REASON} (the audit keeps 200)."
    if typed != external_id:
        return (
            "To confirm, type the customer's external id exactly as shown above "
            f"({len(external_id)} characters); nothing was erased."
        )
    return ""
