"""The checks before any write: envelope (size, type), signature, per-source rate, refusals.

They run before a request joins the writer's queue, so a refusal never waits for a commit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from outbound.api.deps import ApiDeps
from outbound.api.signing import SignatureError, verify
from outbound.services.intake import sources as intake_sources

log = logging.getLogger("outbound.api.gate")
MAX_BODY = 64 * 1024
SOURCE_CACHE_SECONDS = 2.0


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem body; whatever ``detail`` holds, it serialises (see ``jsonable``)."""
    return JSONResponse({"detail": jsonable(detail)}, status_code=status, headers=headers)


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON can carry it: NaN and infinities and integers too long to
    print become short text, anything else that is not JSON its (cut) text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return value if abs(value) < 10**19 else "a number too large to show"
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)[:200]


class Refused(Exception):
    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.response = problem(status, detail, headers)


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

    def __init__(self, app: ApiDeps, cache_seconds: float = SOURCE_CACHE_SECONDS) -> None:
        self.app = app
        self.cache_seconds = cache_seconds
        self._sources: list[intake_sources.Source] = []
        self._loaded = 0.0
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def sources(self) -> list[intake_sources.Source]:
        with self._lock:
            if time.monotonic() - self._loaded > self.cache_seconds or not self._sources:
                with self.app.engine.begin() as conn:
                    self._sources = intake_sources.active_sources(conn, self.app.clock())
                self._loaded = time.monotonic()
            return self._sources

    def cached(self) -> list[intake_sources.Source] | None:
        """The sources if the cache is fresh (no database read), else None."""
        fresh = time.monotonic() - self._loaded <= self.cache_seconds and self._sources
        return self._sources if fresh else None

    def identify(
        self,
        headers: dict[str, str],
        body: bytes,
        sources: list[intake_sources.Source] | None = None,
    ) -> tuple[intake_sources.Source, str]:
        live = self.sources() if sources is None else sources
        # a shop platform's secret signs only on its own route, never a Standard Webhook
        candidates = [(s, secret) for s in live if s.kind == "standard" for secret in s.secrets]
        try:
            verified = verify(headers, body, [secret for _, secret in candidates], self.app.clock())
        except SignatureError as exc:
            raise Refused(401, str(exc)) from None
        return candidates[verified.secret_index][0], verified.webhook_id

    def admit(
        self,
        headers: dict[str, str],
        body: bytes,
        sources: list[intake_sources.Source] | None = None,
    ) -> tuple[intake_sources.Source, str]:
        """Signature, then rate: the sending source and the ``webhook-id``."""
        source, webhook_id = self.identify(headers, body, sources)
        self.throttle(source)
        return source, webhook_id

    def throttle(self, source: intake_sources.Source) -> None:
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


def check_envelope(request: Request) -> None:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise Refused(413, f"body over {MAX_BODY} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, f"content-type {kind or 'missing'!r} is not application/json")


def target(request: Request) -> bytes:
    """The request target as the client sent it (path and ``?query``), for ``bodyless``."""
    raw = request.scope.get("raw_path") or request.url.path.encode("utf-8")
    query = request.scope.get("query_string") or b""
    return bytes(raw) + (b"?" + bytes(query) if query else b"")


async def read_body(request: Request) -> bytes:
    """The body, at most ``MAX_BODY`` bytes. A client gone before it was all sent (it hung up,
    or ``api.slow`` closed it at the body deadline) is one INFO line, not an error: nothing
    was read, so nothing is written, and nobody is left to answer."""
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise Refused(413, f"body over {MAX_BODY} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        log.info(
            "%s went away after %d bytes of the body of %s %s; nothing written",
            client,
            size,
            request.method,
            request.url.path,
        )
        raise Refused(400, "the client disconnected before the body was complete") from None
    return b"".join(chunks)
