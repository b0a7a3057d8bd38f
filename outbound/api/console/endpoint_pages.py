"""``/console/endpoints``: the shop's status webhook endpoints — status (and why one was
disabled), failed attempts in a row, queue depth. Read only; ``outbound endpoint`` changes them."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import Auth, signed_in
from outbound.api.console.views import page, read
from outbound.services.endpoints import manage


def install_endpoint_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/endpoints", response_class=HTMLResponse, include_in_schema=False)
    async def endpoint_list(request: Request) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        rows = await run_in_threadpool(read, auth, manage.listing)
        return page(auth, request, "endpoints.html", viewer, endpoints=rows)
