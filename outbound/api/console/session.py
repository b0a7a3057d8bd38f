"""``/console/login`` and ``/console/logout``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import (
    LOGIN_CSRF_COOKIE,
    PATH,
    SESSION_COOKIE,
    Auth,
    check_csrf,
    read_form,
    safe_next,
)
from outbound.services.people import accounts
from outbound.services.people.login_throttle import LoginThrottle


def install_login(api: FastAPI, auth: Auth) -> None:
    throttle = LoginThrottle(auth.settings.login_attempts_per_minute, auth.settings.login_burst)

    @api.get("/console/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request) -> HTMLResponse:
        return auth.login_page(request)

    @api.post("/console/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        # before the form is read, the CSRF checked or a password hashed: nothing else is spent
        wait = throttle.take(request.client.host if request.client else "")
        if wait:
            refused = auth.login_page(
                request,
                f"too many login attempts from your address; try again in {wait:.0f} s",
                429,
            )
            refused.headers["Retry-After"] = f"{wait:.0f}"
            return refused
        form = await read_form(request)
        check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form)
        name, password = form.get("name", "").strip(), form.get("password", "")
        if not name or not password:
            return auth.login_page(request, "give your user name and password", 400)
        result = await run_in_threadpool(_login, auth, name, password)
        if result.token is None:
            return auth.login_page(request, result.refusal, 401)
        response = RedirectResponse(safe_next(form.get("next", "")), status_code=303)
        auth.set_session(response, result.token)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=PATH)
        return response

    @api.post("/console/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        form = await read_form(request)
        viewer = await run_in_threadpool(auth.viewer, request)
        check_csrf(viewer.csrf_token, form)
        await run_in_threadpool(_logout, auth, token)
        response = RedirectResponse(f"{PATH}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PATH)
        return response


def _login(auth: Auth, name: str, password: str) -> accounts.LoginResult:
    with auth.engine.begin() as conn:  # a failure is recorded (and counted) even when refused
        return accounts.login(conn, name, password, now=auth.clock(), policy=auth.policy())


def _logout(auth: Auth, token: str) -> None:
    with auth.engine.begin() as conn:
        accounts.logout(conn, token, now=auth.clock())
