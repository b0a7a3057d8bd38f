"""Sign-in for the console: session cookie, CSRF tokens, and the refusals as readable pages.

The session cookie is HttpOnly and SameSite=Strict (Secure when ``[console] secure_cookie``);
the session lives in the database and ends at its expiry, at logout or when the account is
disabled. Every form carries the session's CSRF token; the login form, which has no session
yet, a token that must match a cookie set with the form (double submit).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from outbound.config.sections import ConsoleSection
from outbound.domain.pseudonyms import optional_key
from outbound.services.people import accounts
from outbound.services.views.chain_status import ChainMonitor

SESSION_COOKIE = "outbound_session"
LOGIN_CSRF_COOKIE = "outbound_login_csrf"
PATH = "/console"
MAX_FORM = 16 * 1024


class PageRefused(Exception):
    """A request the console answers with a page (403, 404, 400) instead of a traceback."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class NotSignedIn(Exception):
    """No valid session: a page request goes to the login page, then back."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


@dataclass(frozen=True)
class Auth:
    """The console's sign-in settings and database access, shared by its routes."""

    settings: ConsoleSection
    engine: Any
    clock: Callable[[], datetime]
    templates: Jinja2Templates
    chain: ChainMonitor
    checkpoint_to: str = ""  # [audit] checkpoint_to: the manifest of an export names it
    erasure_secret: str = ""  # [privacy] erasure_key
    signer: Any = None  # [audit] signing_key_file, loaded: also signs export manifests
    prompts_dir: str = ""  # [voice] tts_cache_dir: a forgotten customer's prompts are deleted

    def policy(self) -> accounts.LoginPolicy:
        s = self.settings
        return accounts.LoginPolicy(
            session=timedelta(minutes=s.session_minutes),
            max_failures=s.max_failed_logins,
            lockout=timedelta(minutes=s.lockout_minutes),
        )

    def viewer(self, request: Request) -> accounts.Viewer:
        """The signed-in account (runs in a worker thread); NotSignedIn otherwise."""
        token = request.cookies.get(SESSION_COOKIE)
        with self.engine.begin() as conn:
            found = accounts.viewer(conn, token, self.clock())
        if found is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise NotSignedIn(target)
        return found

    def may_reveal(self, viewer: accounts.Viewer) -> bool:
        return viewer.role in self.settings.reveal_roles

    def may_erase(self, viewer: accounts.Viewer) -> bool:
        return viewer.role in self.settings.erase_roles

    def erasure_key(self) -> bytes | None:
        """The key a forgotten customer's number is kept under; None when unset."""
        return optional_key(self.erasure_secret)

    def set_session(self, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=self.settings.session_minutes * 60,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
        )

    def login_page(self, request: Request, error: str = "", status: int = 200) -> HTMLResponse:
        """The login form with a fresh double-submit CSRF token (cookie and hidden field)."""
        csrf = secrets.token_urlsafe(32)
        next_url = safe_next(request.query_params.get("next", ""))
        response = self.templates.TemplateResponse(
            request,
            "login.html",
            {"csrf": csrf, "next": next_url, "error": error, "viewer": None},
            status_code=status,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            csrf,
            max_age=3600,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
        )
        return response


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (first value of each field)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise PageRefused(
            415, "Not a form", "send the page's form (application/x-www-form-urlencoded)"
        )
    body = await request.body()
    if len(body) > MAX_FORM:
        raise PageRefused(413, "Form too large", f"a console form is at most {MAX_FORM} bytes")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def check_csrf(expected: str, form: dict[str, str]) -> None:
    given = form.get("csrf", "")
    if not (given and expected and secrets.compare_digest(given, expected)):
        raise PageRefused(
            403,
            "Form refused (CSRF check failed)",
            "This form did not come from your console session (missing or wrong CSRF token). "
            "Reload the page and submit it again.",
        )


def safe_next(target: str) -> str:
    """Only a console path: a login must never redirect to another site."""
    if target.startswith(PATH) and not target.startswith("//") and "\\" not in target:
        return target
    return PATH


def login_redirect(target: str) -> RedirectResponse:
    return RedirectResponse(f"{PATH}/login?next={quote(safe_next(target))}", status_code=303)


async def signed_in(auth: Auth, request: Request) -> accounts.Viewer:
    viewer: accounts.Viewer = await run_in_threadpool(auth.viewer, request)
    return viewer
