"""``GET /metrics``: this API process's Prometheus metrics (outbound.observability.metrics)."""

from __future__ import annotations

from fastapi import FastAPI, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outbound.api.deps import ApiDeps
from outbound.api.request_ids import RequestIds
from outbound.observability import metrics, status
from outbound.services.checkpoints import scheduled_file

INGEST_PATHS = ("/v1/events", "/v1/receipts")


def install_metrics(api: FastAPI, deps: ApiDeps) -> None:
    metrics.watch_database(lambda: snapshot(deps))  # queue, oldest due, audit head, checkpoint

    @api.get("/metrics", include_in_schema=False)
    async def get_metrics() -> Response:
        body = await run_in_threadpool(metrics.render)  # the gauges read the database
        return Response(body, media_type=metrics.CONTENT_TYPE)

    api.add_middleware(CountIngest)
    api.add_middleware(RequestIds)  # X-Request-ID, and request_id in JSON log lines


def snapshot(deps: ApiDeps) -> status.Snapshot:
    target = deps.audit.checkpoint_to
    return status.read(deps.engine, deps.clock(), scheduled_file(target) if target else None)


class CountIngest:
    """Counts webhook and receipt answers by path and status (a plain ASGI wrapper: the body
    streams through untouched, so the slow-client limits of outbound.api.slow still apply)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path not in INGEST_PATHS:
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics.INGEST_REQUESTS.labels(path, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counted)
