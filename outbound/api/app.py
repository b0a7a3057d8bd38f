"""The HTTP API (FastAPI): signed webhook triggers, notification status, health.

Signing (Standard Webhooks): every ``/v1`` request carries ``webhook-id`` (1-255 printable
ASCII characters, new for every request), ``webhook-timestamp`` (Unix seconds, within five
minutes of the server's clock) and ``webhook-signature: v1,<base64 HMAC-SHA256>``. A request
with a body signs ``{webhook-id}.{webhook-timestamp}.{body}``. A request without one (``GET``)
signs ``{webhook-id}.{webhook-timestamp}.{METHOD} {target}`` — the method in capitals, one
space, and the request target exactly as sent in the request line (the path, percent-encoding
kept, and ``?query`` if any), e.g. ``msg_1.1764169200.GET /v1/notifications/7``. A read's
``webhook-id`` is single-use (401 on a second use); a notification is shown only to the source
that created it (another source, or a notification made by the CLI or a campaign: 404).

Order of checks on ``POST /v1/events``: size (413) and content type (415) before anything is
read, signature (401) before the body is parsed, rate (429), schema (422) — none of them waits
for the database's writer. Then the event joins the writer's queue (``api.ingest``): events that
arrive together share one transaction, each in its own savepoint, and 202 is sent only after
the commit that holds the event. A repeated ``webhook-id`` with the same body returns the stored
answer (the same 202, with ``duplicate: true``); with another body it is a replay (401). A
database that cannot be reached is a 503 with Retry-After. Slow clients: the request head must
arrive within ``[api] header_timeout_seconds`` and the body within ``[api]
body_timeout_seconds`` (408, or the connection is closed).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi import Path as FastPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError
from starlette.concurrency import run_in_threadpool

from outbound.api import events
from outbound.api.console import install_console
from outbound.api.deps import ApiDeps
from outbound.api.gate import (
    SOURCE_CACHE_SECONDS,
    Gate,
    Refused,
    check_envelope,
    problem,
    read_body,
    target,
)
from outbound.api.ingest import GroupCommit
from outbound.api.intake import Accepted, event_job, read_job, receipt_job
from outbound.api.integrations import install_integrations
from outbound.api.metrics import install_metrics
from outbound.api.providers import install_providers
from outbound.domain.errors import SchemaError
from outbound.domain.masking import mask_text
from outbound.schemas.base import shown
from outbound.services import storage
from outbound.services.send.links import link_failures
from outbound.services.send.receipts import PushReceipt
from outbound.services.templates.sizes import warm as warm_sizes

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

#: a duplicate is answered with the original status (202), so no other success is declared
EVENT_ACCEPTED = {
    "model": Accepted,
    "description": "Committed; a retry (same webhook-id and body) gets the original answer "
    "again, with duplicate: true",
}
RECEIPT_RECORDED = {
    "description": "Recorded; a retry (same webhook-id and body) gets the original answer "
    "again, with duplicate: true"
}


def create_app(app: ApiDeps, source_cache_seconds: float = SOURCE_CACHE_SECONDS) -> FastAPI:
    """The API of one process; its writer (``api.state.writer``) starts with the first write."""
    writer = GroupCommit(app.engine)
    warm_sizes(app.limits)  # templates read now, not in the first event's write transaction

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
        responses={202: EVENT_ACCEPTED, **RESPONSES},
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
        responses={202: RECEIPT_RECORDED, **RESPONSES},
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

    _install_reads(api, gate, writer)
    _install_probes(api, app)
    for install in (install_metrics, install_console, install_providers):  # /metrics, …
        install(api, app)
    install_integrations(api, app, gate, writer)  # POST /v1/integrations/{platform}/{name}
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _install_handlers(api: FastAPI) -> None:
    """Refusals, unstorable values (422) and a database outage (503) as problem bodies."""

    @api.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> JSONResponse:
        return exc.response

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422s (path parameters) show their input as ours do: masked, cut."""
        return problem(
            422,
            [
                {
                    "loc": list(e["loc"]),
                    "msg": e["msg"],
                    "type": e["type"],
                    "input": shown(str(e["loc"][-1]) if e["loc"] else "", e.get("input")),
                }
                for e in exc.errors()
            ],
        )

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


def _install_reads(api: FastAPI, gate: Gate, writer: GroupCommit) -> None:
    """``GET /v1/notifications/{id}``: signed over method and path, the id used once."""

    @api.get(
        "/v1/notifications/{notification_id}",
        responses={
            200: {
                "description": "The notification, to the source that created it",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            404: {"model": Problem, "description": "Unknown id, or another source's"},
            401: RESPONSES[401],
            503: RESPONSES[503],
        },
    )
    async def get_notification(
        request: Request, notification_id: int = FastPath(ge=1, le=2**63 - 1)
    ) -> JSONResponse:
        """Status, decision trace, deliveries and outcomes. Signed like the webhooks, over
        ``GET <path>`` in place of the empty body (see the description above); single-use."""
        sources = gate.cached() or await run_in_threadpool(gate.sources)
        job = read_job(
            gate.app, gate, dict(request.headers), target(request), notification_id, sources
        )
        return await writer.run(job)


def _install_probes(api: FastAPI, app: ApiDeps) -> None:
    """Liveness (the process is up) and readiness (database reachable, schema current)."""

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @api.get("/readyz", responses={503: RESPONSES[503]})
    def readyz() -> JSONResponse:
        """Database reachable and at the schema this version needs; no provider link (a
        dialer's SIP trunk registration) reported failed."""
        try:
            storage.check_ready(app.engine, app.database_url)
        except SchemaError as exc:
            return problem(503, str(exc), {"Retry-After": RETRY_AFTER})
        failed = link_failures(app.engine)
        if failed:
            return problem(
                503, "; ".join(mask_text(f) for f in failed), {"Retry-After": RETRY_AFTER}
            )
        return JSONResponse({"status": "ready"})


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
