"""The HTTP API (FastAPI): signed webhook triggers, notification status, health.

Order of checks on ``POST /v1/events``: size (413) and content type (415) before anything is
read, signature (401) before the body is parsed, rate (429), schema (422), then one
transaction that applies the event and stores the receipt — 202 only after it committed.
A repeated ``webhook-id`` with the same body returns the stored answer; with another body it
is a replay (401). A database that cannot be reached is a 503 with Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.concurrency import run_in_threadpool

from outbound.api import events
from outbound.api.signing import SignatureError, verify
from outbound.bootstrap.app import App
from outbound.domain.errors import FieldProblem, OutboundError, SchemaError, ValidationError
from outbound.schemas.base import ROOT, loc_of
from outbound.services.receipts import PushReceipt, apply_receipt
from outbound.services.reports import notification_report
from outbound.store import sources as source_store
from outbound.store.db import require_current_schema

log = logging.getLogger("outbound.api.app")
MAX_BODY = 64 * 1024
RETRY_AFTER = "5"
SOURCE_CACHE_SECONDS = 2.0


class Accepted(BaseModel):
    event_id: str
    source: str
    notification_ids: list[int] = []
    customer_id: int | None = None
    created: bool
    duplicate: bool = False


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


def _problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class Refused(Exception):
    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.response = _problem(status, detail, headers)


@dataclass
class Bucket:
    """Token bucket per source: ``rate`` per second, bursts up to two seconds' worth."""

    rate: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 if allowed, else seconds until a token is available."""
        now = time.monotonic()
        self.tokens = min(self.rate * 2, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Gate:
    """Sources (cached briefly, so rotation takes effect within seconds) and rate limits."""

    def __init__(self, app: App, cache_seconds: float = SOURCE_CACHE_SECONDS) -> None:
        self.app = app
        self.cache_seconds = cache_seconds
        self._sources: list[source_store.Source] = []
        self._loaded = 0.0
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def sources(self) -> list[source_store.Source]:
        with self._lock:
            if time.monotonic() - self._loaded > self.cache_seconds or not self._sources:
                with self.app.engine.begin() as conn:
                    self._sources = source_store.active_sources(conn, self.app.clock())
                self._loaded = time.monotonic()
            return self._sources

    def identify(self, headers: dict[str, str], body: bytes) -> tuple[source_store.Source, str]:
        candidates = [(s, secret) for s in self.sources() for secret in s.secrets]
        try:
            verified = verify(headers, body, [secret for _, secret in candidates], self.app.clock())
        except SignatureError as exc:
            raise Refused(401, str(exc)) from None
        return candidates[verified.secret_index][0], verified.webhook_id

    def throttle(self, source: source_store.Source) -> None:
        with self._lock:
            bucket = self._buckets.get(source.name)
            if bucket is None or bucket.rate != source.rate_per_second:
                bucket = self._buckets[source.name] = Bucket(
                    source.rate_per_second, source.rate_per_second * 2
                )
            wait = bucket.take()
        if wait:
            raise Refused(
                429,
                f"rate limit of {source.rate_per_second}/s for source {source.name!r} exceeded",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )


def _check_envelope(request: Request) -> None:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise Refused(413, f"body over {MAX_BODY} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, f"content-type {kind or 'missing'!r} is not application/json")


def _shown(value: Any) -> Any:
    """An input value as JSON can carry it back (raw bytes of a broken body are cut and quoted)."""
    if isinstance(value, bytes):
        return value[:200].decode("utf-8", "replace")
    return value


def _parse(body: bytes) -> Any:
    if b"\\u0000" in body:  # PostgreSQL text cannot hold NUL: refuse it as a value error
        raise Refused(
            422, [{"loc": ["body"], "msg": "text may not contain NUL (\\u0000)", "input": None}]
        )
    try:
        return events.EVENT.validate_json(body)
    except PydanticError as exc:
        raise Refused(422, _detail(events.event_problems(exc))) from None


def _detail(problems: list[FieldProblem]) -> list[dict[str, Any]]:
    """One entry per bad field: where (``["body", "data", "eta"]``), the hint, the shown value."""
    return [
        {
            "loc": ["body", *loc_of(p.field)] if p.field != ROOT else ["body"],
            "msg": p.hint,
            "input": _shown(p.value),
        }
        for p in problems
    ]


def _apply(
    app: App, source: source_store.Source, webhook_id: str, body: bytes, event: Any
) -> JSONResponse:
    digest = hashlib.sha256(body).hexdigest()
    try:
        with app.engine.begin() as conn:
            seen = source_store.find_receipt(conn, source.id, webhook_id)
            if seen is not None:
                return _replayed(seen, digest)
            result = events.handle(conn, app, event, source.name)
            body_out = Accepted(event_id=webhook_id, source=source.name, **result).model_dump()
            source_store.store_receipt(
                conn, source.id, webhook_id, digest, 202, body_out, app.clock()
            )
        return JSONResponse(body_out, status_code=202)
    except IntegrityError:  # a concurrent twin committed first: answer as it did
        with app.engine.begin() as conn:
            seen = source_store.find_receipt(conn, source.id, webhook_id)
        if seen is None:
            raise
        return _replayed(seen, digest)
    except ValidationError as exc:
        raise Refused(422, _detail(exc.problems) or str(exc)) from None


def _accept(app: App, gate: Gate, headers: dict[str, str], body: bytes) -> JSONResponse:
    """Everything after the body is read, in one worker-thread hop."""
    source, webhook_id = gate.identify(headers, body)
    gate.throttle(source)
    event = _parse(body)
    if event.type not in source.events:
        raise Refused(401, f"source {source.name!r} may not send {event.type!r}")
    return _apply(app, source, webhook_id, body, event)


def _accept_receipt(app: App, gate: Gate, headers: dict[str, str], body: bytes) -> JSONResponse:
    """``POST /v1/receipts`` after the body is read: the same checks and replay rules as events."""
    source, webhook_id = gate.identify(headers, body)
    gate.throttle(source)
    if "push.receipt" not in source.events:
        raise Refused(401, f"source {source.name!r} may not send 'push.receipt'")
    try:
        receipt = PushReceipt.model_validate_json(body)
    except PydanticError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise Refused(422, [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]) from None
    digest = hashlib.sha256(body).hexdigest()
    try:
        with app.engine.begin() as conn:
            seen = source_store.find_receipt(conn, source.id, webhook_id)
            if seen is not None:
                return _replayed(seen, digest)
            out = apply_receipt(conn, receipt, now=app.clock(), source=source.name)
            source_store.store_receipt(conn, source.id, webhook_id, digest, 202, out, app.clock())
    except ValidationError as exc:
        detail = [{"loc": ["body", p.field], "msg": p.hint, "input": p.value} for p in exc.problems]
        raise Refused(422, detail) from None
    return JSONResponse(out, status_code=202)


def _replayed(seen: Any, digest: str) -> JSONResponse:
    if seen.body_sha256 != digest:
        raise Refused(401, "webhook-id was already used with a different body (replay refused)")
    return JSONResponse({**seen.response, "duplicate": True}, status_code=seen.status_code)


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Unsigned, badly signed, stale or replayed"},
    413: {"model": Problem, "description": "Body over 64 KiB"},
    415: {"model": Problem, "description": "Content type is not application/json"},
    422: {"model": Problem, "description": "Schema or value errors, one entry per bad field"},
    429: {"model": Problem, "description": "Per-source rate limit exceeded; see Retry-After"},
    503: {"model": Problem, "description": "Database unavailable; retry after Retry-After seconds"},
}


def create_app(app: App, source_cache_seconds: float = SOURCE_CACHE_SECONDS) -> FastAPI:
    api = FastAPI(title="outbound", version="1", description=__doc__)
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
        _check_envelope(request)
        body = await _read(request)
        return await run_in_threadpool(_accept, app, gate, dict(request.headers), body)

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
        _check_envelope(request)
        body = await _read(request)
        return await run_in_threadpool(_accept_receipt, app, gate, dict(request.headers), body)

    _install_reads(api, app, gate)
    _install_probes(api, app)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _install_handlers(api: FastAPI) -> None:
    """Refusals, unstorable values (422) and a database outage (503) as problem bodies."""

    @api.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> JSONResponse:
        return exc.response

    @api.exception_handler(DataError)
    async def unstorable(_request: Request, exc: DataError) -> JSONResponse:
        return _problem(
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
        return _problem(503, "database unavailable; retry later", {"Retry-After": RETRY_AFTER})


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
            return _problem(503, str(exc), {"Retry-After": RETRY_AFTER})
        return JSONResponse({"status": "ready"})


async def _read(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, f"body over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
