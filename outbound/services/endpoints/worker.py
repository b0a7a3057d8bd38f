"""The delivery worker of status webhooks: its own thread and asyncio loop, its own window of
requests in flight, so a slow or dead endpoint never slows dispatch.

Per Standard Webhooks: ``webhook-id`` (the same on every retry), ``webhook-timestamp`` (this
attempt's) and ``webhook-signature`` (``v1,`` HMAC-SHA256 by the reference package; during a
rotation one signature per live secret). At least once: a message is taken with a lease, sent,
then recorded; a worker that dies in between leaves it to be taken again when the lease ends.
Redirects are never followed (a 3xx is a failed attempt); of a response body only a short
excerpt is kept. Retries back off by ``[endpoints] retry_seconds``; ``failure_limit`` failed
attempts in a row disable the endpoint (audited).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from outbound.config.sections import EndpointsSection
from outbound.domain.masking import mask_text
from outbound.services.endpoints.events import invalidate
from outbound.store import audit
from outbound.store import endpoints as store
from outbound.store.endpoints import Attempted, Leased

log = logging.getLogger("outbound.endpoints")
EXCERPT_CHARS = 200
_READ_BYTES = 1024


def signature(secrets_: tuple[str, ...], webhook_id: str, at: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,…`` per live secret, space separated."""
    return " ".join(Webhook(s).sign(webhook_id, at, body) for s in secrets_)


def excerpt(raw: bytes) -> str:
    return mask_text(raw.decode("utf-8", "replace"))[:EXCERPT_CHARS]


@dataclass
class DeliveryWorker:
    engine: Engine
    settings: EndpointsSection
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    owner: str = field(default_factory=lambda: f"webhooks:{os.getpid()}:{secrets.token_hex(4)}")
    #: results waiting to be recorded (with the next lease, in one transaction)
    _results: list[Attempted] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set."""
        asyncio.run(self._main(stop))

    async def _main(self, stop: threading.Event) -> None:
        """Sends never wait for the database: due messages are taken ahead (up to two windows)
        and results recorded in batches, by one database step at a time beside the sends."""
        window = self.settings.concurrency
        connector = aiohttp.TCPConnector(limit=window, limit_per_host=window)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        ahead: deque[Leased] = deque()
        in_flight: set[asyncio.Future[Attempted]] = set()
        db: asyncio.Future[list[Leased]] | None = None
        idle_until = 0.0
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while not stop.is_set():
                while ahead and len(in_flight) < window:
                    in_flight.add(asyncio.ensure_future(self._send(session, ahead.popleft())))
                want = min(2 * window - len(ahead) - len(in_flight), self.settings.batch_size)
                if db is None and (self._results or (want > 0 and time.monotonic() >= idle_until)):
                    db = asyncio.ensure_future(asyncio.to_thread(self.step, max(want, 0)))
                waiting: set[asyncio.Future[Any]] = {*in_flight, *([db] if db else [])}
                if not waiting:
                    await asyncio.to_thread(stop.wait, self.settings.poll_seconds)
                    continue
                done, _ = await asyncio.wait(
                    waiting, timeout=self.settings.poll_seconds, return_when="FIRST_COMPLETED"
                )
                for task in done:
                    if task is db:
                        leased = db.result()
                        ahead.extend(leased)
                        db = None
                        if not leased and want > 0:  # nothing due: look again after a poll
                            idle_until = time.monotonic() + self.settings.poll_seconds
                    else:
                        in_flight.discard(task)
                        self._results.append(task.result())
            if db is not None:
                await db
            if in_flight:  # answered ones are recorded; the rest go again after their lease
                done, _ = await asyncio.wait(in_flight, timeout=self.settings.timeout_seconds)
                self._results.extend(t.result() for t in done if not t.cancelled())
            await asyncio.to_thread(self.step, 0)

    def step(self, free: int) -> list[Leased]:
        """Record the finished attempts and take up to ``free`` due messages, one transaction."""
        results, self._results = self._results, []
        now = self.clock()
        with self.engine.begin() as conn:
            store.record_attempts(conn, results, self.owner)
            off = store.disable_failing(conn, self.settings.failure_limit, now) if results else []
            if off:
                events = [
                    audit.Event(
                        "webhooks",
                        "endpoint.disabled",
                        f"endpoint:{name}",
                        {"reason": f"{run} failed attempts in a row", "failure_run": run},
                    )
                    for name, run in off
                ]
                audit.append(conn, events, now)
            if free <= 0:
                leased = []
            else:
                until = now + timedelta(seconds=self.settings.lease_seconds)
                leased = store.lease_due(conn, now=now, until=until, owner=self.owner, limit=free)
        if off:
            invalidate()
            for name, run in off:
                log.warning("endpoint %s disabled after %d failed attempts in a row", name, run)
        return leased

    def _retry_at(self, message: Leased, at: datetime) -> datetime | None:
        schedule = self.settings.retry_seconds
        done = message.attempts  # attempts before this one
        return at + timedelta(seconds=schedule[done]) if done < len(schedule) else None

    async def _send(self, session: aiohttp.ClientSession, message: Leased) -> Attempted:
        at = self.clock()  # schedules the retry; the signature carries the wall clock's second
        signed = datetime.fromtimestamp(int(time.time()), tz=UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": "outbound-webhooks/1",
            "webhook-id": message.webhook_id,
            "webhook-timestamp": str(int(signed.timestamp())),
            "webhook-signature": signature(
                message.secrets, message.webhook_id, signed, message.body
            ),
        }
        started = time.perf_counter()
        code: int | None = None
        body: str | None = None
        error: str | None = None
        try:
            async with session.post(
                message.url, data=message.body.encode(), headers=headers, allow_redirects=False
            ) as response:
                code = response.status
                body = excerpt(await response.content.read(_READ_BYTES))
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            error = mask_text(f"{type(exc).__name__}: {exc}")[:EXCERPT_CHARS]
        ok = code is not None and 200 <= code < 300
        if code is not None and not ok:
            error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
        elapsed = int((time.perf_counter() - started) * 1000)
        retry_at = None if ok else self._retry_at(message, at)
        return Attempted(
            message.id, message.endpoint_id, at, code, body, error, elapsed, ok, retry_at
        )
