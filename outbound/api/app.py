"""The HTTP API (FastAPI): signed webhook triggers, notification status, health.

Order of checks on ``POST /v1/events``: size (413) and content type (415) before anything is
read, signature (401) before the body is parsed, rate (429), schema (422) — none of them waits
for the database's writer. Then the event joins the writer's queue (``api.ingest``): events that
arrive together share one transaction, each in its own savepoint, and 202 is sent only after
the commit that holds the event. A repeated ``webhook-id`` with the same body returns the stored
answer; with another body it is a replay (401). A database that cannot be reached is a 503 with
Retry-After.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError
from starlette.concurrency import run_in_threadpool

from outbound.api import events
from outbound.api.console import install_console
from outbound.api.gate import (
    SOURCE_CACHE_SECONDS,
    Gate,
    Refused,
    check_envelope,
    problem,
    read_body,
)
from outbound.api.ingest import GroupCommit
from outbound.api.intake import Accepted, event_job, receipt_job
from outbound.bootstrap.app import App
from outbound.domain.errors import OutboundError, SchemaError
from outbound.services.receipts import PushReceipt
from outbound.services.reports import notification_report
from outbound.store.db import require_current_schema

log = logging.getLogger("outbound.api.app")
RETRY_AFTER = "5"


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Unsigned, badly signed, stale or replayed"},
    413: {"model": Problem, "description": "Body over 64 KiB"},
    415: {"model": Problem, "description": "Content type is not application/json"},
    422: {"model": Problem, "description": "Schema or value errors, one entry per bad field"},
    429: {"model": Problem, "description": "Per-source rate limit exceeded; see Retry-After"},
    503: {"model": Problem, "description": "Database unavailable; retry after Retry-After seconds"},
}


def create_app(app: App, source_cache_seconds: float = SOURCE_CACHE_SECONDS) -> FastAPI:
    """The API of one process; its writer (``api.state.writer``) starts with the first write."""
    writer = GroupCommit(app.engine)

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(writer.stop)  # answer what is queued before the process ends

    api = FastAPI(title="outbound", version="1", description=__doc__, lifespan=lifespan)
    api.state.writer = writer
    gate = Gate(app, source_cache_seconds)

    _install_handlers(api)

    @api.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        responses={
            200: {"model": Accepted, "description": "Duplicate: the original answer"},
            **RESPONSES,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}},
            }
        },
    )
    async def post_event(request: Request) -> JSONResponse:
        """Trigger a notification or sync a customer/consent (Standard Webhooks signed)."""
        check_envelope(request)
        body = await read_body(request)
        sources = gate.cached() or await run_in_threadpool(gate.sources)
        return await writer.run(event_job(app, gate, dict(request.headers), body, sources))

    @api.post(
        "/v1/receipts",
        status_code=202,
        responses={200: {"description": "Duplicate: the original answer"}, **RESPONSES},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PushReceipt.model_json_schema()}},
            }
        },
    )
    async def post_receipt(request: Request) -> JSONResponse:
        """The shop's app reports a push delivered or opened (signed like the webhooks)."""
        check_envelope(request)
        body = await read_body(request)
        sources = gate.cached() or await run_in_threadpool(gate.sources)
        return await writer.run(receipt_job(app, gate, dict(request.headers), body, sources))

    _install_reads(api, app, gate)
    _install_probes(api, app)
    install_console(api, app)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _install_handlers(api: FastAPI) -> None:
    """Refusals, unstorable values (422) and a database outage (503) as problem bodies."""

    @api.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> JSONResponse:
        return exc.response

    @api.exception_handler(DataError)
    async def unstorable(_request: Request, exc: DataError) -> JSONResponse:
        return problem(
            422,
            [
                {
                    "loc": ["body"],
                    "msg": "a value cannot be stored (out of range or invalid text)",
                    "input": None,
                }
            ],
        )

    @api.exception_handler(DBAPIError)
    async def database_down(_request: Request, exc: DBAPIError) -> JSONResponse:
        log.warning(
            "database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__
        )
        return problem(503, "database unavailable; retry later", {"Retry-After": RETRY_AFTER})


def _install_reads(api: FastAPI, app: App, gate: Gate) -> None:
    """``GET /v1/notifications/{id}``: signed like the webhooks."""

    @api.get(
        "/v1/notifications/{notification_id}",
        responses={
            404: {"model": Problem, "description": "Unknown id"},
            401: RESPONSES[401],
            503: RESPONSES[503],
        },
    )
    async def get_notification(
        request: Request, notification_id: int = FastPath(ge=1, le=2**63 - 1)
    ) -> dict[str, Any]:
        """Status, decision trace, deliveries and outcomes (signed like the webhooks, empty body)."""
        await run_in_threadpool(gate.identify, dict(request.headers), b"")
        return await run_in_threadpool(_notification, app, notification_id)


def _install_probes(api: FastAPI, app: App) -> None:
    """Liveness (the process is up) and readiness (database reachable, schema current)."""

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @api.get("/readyz", responses={503: RESPONSES[503]})
    def readyz() -> JSONResponse:
        """Database reachable and at the schema this version needs."""
        try:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            require_current_schema(app.engine, app.settings.database_url)
        except SchemaError as exc:
            return problem(503, str(exc), {"Retry-After": RETRY_AFTER})
        return JSONResponse({"status": "ready"})


def _notification(app: App, nid: int) -> dict[str, Any]:
    try:
        with app.engine.begin() as conn:
            return json.loads(json.dumps(notification_report(conn, nid), default=str))  # type: ignore[no-any-return]
    except OutboundError as exc:
        raise Refused(404, str(exc)) from None


def _openapi(api: FastAPI) -> dict[str, Any]:
    if api.openapi_schema:
        return api.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=api.title, version=api.version, description=api.description, routes=api.routes
    )
    event_schema = events.EVENT.json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(event_schema.pop("$defs", {}))
    components["Event"] = event_schema
    api.openapi_schema = schema
    return schema
