"""Push requests many at a time: an in-flight window per provider, on the adapter's own loop.

``post_all`` hands a batch from a dispatcher thread to an event loop thread (uvloop) and waits
for every answer. The requests go by aiohttp over HTTP/1.1 keep-alive connections (one per
request in flight), or, with ``[push] http2 = true``, by httpx with HTTP/2 where ALPN offers it
(FCM does): the window then shares one connection as streams; a service that answers over
HTTP/1.1 goes back to aiohttp. Measured against an FCM-shaped server answering in 100 ms
(benchmarks/README.md, "Push and SMS windows"): httpx's HTTP/2 costs ~3x aiohttp's CPU per
request, which in a worker process (one GIL, shared with dispatch) keeps it under 80 % of a
plain aiohttp client; httpx's async HTTP/1.1 pool is the slow case (~100 requests/s).

Each provider (FCM, or a Web Push service's origin) has its own window (``[push] window``). A
429 or 503 halves it (AIMD, ``outbound.channels.window``) and the request is sent again after
its Retry-After (or a short backoff), as long as that fits in ``hold_seconds``; past that the
throttling answer is returned, and the delivery goes back to the queue with the Retry-After.

Where a request may go is ``[push]``'s ``PushTargets`` (``outbound.domain.push_targets``): the
URL is checked before anything is sent (https, an allowed host, no private IP literal), and
the address each client connects to is checked again as it connects: aiohttp through a
resolver that refuses a name resolving to a loopback, private, link-local, multicast or
reserved address (aiohttp connects to exactly the addresses its resolver returned), httpx
through a network backend that checks the peer of every new connection. A refused request is
``Refused``: never sent, a permanent failure of that delivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
import httpcore
import httpx
import uvloop
from aiohttp.abc import AbstractResolver, ResolveResult

from outbound.channels.window import Aimd, AsyncWindow
from outbound.domain.clock import Clock
from outbound.domain.push_targets import PushTargets
from outbound.observability import metrics

log = logging.getLogger("outbound.push")

THROTTLED = frozenset({429, 503})
_FIRST_BACKOFF, _MAX_BACKOFF = 0.05, 2.0  # seconds, when a throttling answer gives no hint

T = TypeVar("T")


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class PushRequest:
    provider: str  # whose window it goes through: "fcm", or a Web Push service's origin
    url: str
    headers: dict[str, str]
    body: bytes
    http2_only: bool = False  # APNs speaks HTTP/2 only: always by httpx, whatever [push] http2


@dataclass(frozen=True)
class Answer:
    """A push service's answer, whichever client carried it."""

    status_code: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes
    http_version: str = "HTTP/1.1"

    def json(self) -> Any:
        return json.loads(self.content)


class Unanswered(Exception):
    """No answer came (refused, reset, timed out); the message is the client's error name."""


class Refused(Exception):
    """Not sent: the URL, or the address it resolved to, is not an allowed push target."""


class AddressRefused(OSError):
    """Raised while connecting: the peer address is not one a push request may go to."""


Reply = Answer | Unanswered | Refused


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name any of whose addresses is not a public one (so a
    name that rebinds to 127.0.0.1 after intake is refused as the connection is made)."""

    def __init__(self, targets: PushTargets) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._targets = targets

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            problem = self._targets.address_problem(result["host"])
            if problem is not None:
                raise AddressRefused(f"{host} {problem}")
        return found

    async def close(self) -> None:
        await self._inner.close()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend for httpx, closing a new connection whose peer address is
    not a public one (checked on the connected socket: what DNS said no longer matters)."""

    def __init__(self, targets: PushTargets) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._targets = targets

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        peer = stream.get_extra_info("server_addr")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        problem = self._targets.address_problem(address) if address else "has no peer address"
        if problem is not None:
            await stream.aclose()
            raise AddressRefused(f"{host} {problem}")
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("a Unix socket is not a push service")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP/2-capable transport over ``GuardedBackend``."""

    def __init__(self, targets: PushTargets, verify: ssl.SSLContext | bool, window: int) -> None:
        super().__init__(http2=True, verify=verify, trust_env=False)
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=None,
            max_keepalive_connections=window,
            keepalive_expiry=5.0,
            http1=True,
            http2=True,
            network_backend=GuardedBackend(targets),
        )


def provider_label(provider: str) -> str:
    """The metrics' ``provider`` label: ``fcm``, ``apns``, or ``webpush`` for every Web Push
    service (their origins are not a label: one series per push service origin would grow)."""
    return provider if provider in ("fcm", "apns") else "webpush"


class _LoopThread:
    """An asyncio event loop on a daemon thread, started at first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """``coro``'s result; ``TimeoutError`` (and ``coro`` cancelled) after ``timeout``."""
        with self._lock:
            if self._loop is None:
                self._loop = uvloop.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name=self._name, daemon=True
                )
                self._thread.start()
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    @property
    def started(self) -> bool:
        return self._loop is not None

    def stop(self) -> None:
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


class PushHttp:
    """The adapter's HTTP side: ``post_all(requests)`` -> one answer (or ``Unanswered``) each."""

    def __init__(
        self,
        clock: Clock,
        *,
        window: int = 64,
        timeout_seconds: float = 10.0,
        hold_seconds: float | None = None,
        verify: ssl.SSLContext | bool = True,
        http2: bool = False,
        targets: PushTargets | None = None,
    ) -> None:
        self.window = window
        self.targets = targets or PushTargets()
        self.http2 = http2
        self.timeout = timeout_seconds
        self.hold = timeout_seconds if hold_seconds is None else hold_seconds
        self.verify = verify
        self._clock = clock
        self._windows: dict[str, AsyncWindow] = {}
        self._http1: set[str] = set()  # providers that answered over HTTP/1.1
        self._h2: httpx.AsyncClient | None = None
        self._h1: aiohttp.ClientSession | None = None
        self._loop = _LoopThread("push-http")

    def windows(self) -> dict[str, Aimd]:
        """Each provider's window (its size now, the smallest it was, its halvings)."""
        return {name: w.aimd for name, w in self._windows.items()}

    def most_in_flight(self, provider: str) -> int:
        window = self._windows.get(provider)
        return window.most if window is not None else 0

    def post_all(self, requests: Sequence[PushRequest]) -> list[Reply]:
        if not requests:
            return []
        # a bound no healthy batch reaches: every round of the window timing out, then held
        rounds = len(requests) / self.window + 1
        limit = rounds * (self.timeout + self.hold) + self.hold
        try:
            return self._loop.run(self._post_all(requests), limit)
        except TimeoutError:
            log.error("a push batch of %d had no answer within %.0fs", len(requests), limit)
            return [Unanswered(f"no answer within {limit:.0f}s")] * len(requests)

    def close(self) -> None:
        if self._loop.started:
            self._loop.run(self._aclose())
        self._loop.stop()

    async def _aclose(self) -> None:
        if self._h2 is not None:
            await self._h2.aclose()
        if self._h1 is not None:
            await self._h1.close()
        self._h2 = self._h1 = None

    async def _post_all(self, requests: Sequence[PushRequest]) -> list[Reply]:
        replies = await asyncio.gather(*(self._post(r) for r in requests), return_exceptions=True)
        return [_reply(r) for r in replies]

    async def _post(self, request: PushRequest) -> Reply:
        """Send through the provider's window; a throttling answer is retried within ``hold``."""
        window = self._windows.get(request.provider)
        if window is None:
            label = provider_label(request.provider)
            window = self._windows[request.provider] = AsyncWindow(Aimd(self.window), label)
        give_up = time.monotonic() + self.hold
        retries = 0
        problem = self.targets.url_problem(request.url)
        if problem is not None:
            return Refused(problem)
        while True:
            epoch = await window.acquire()
            try:
                with metrics.timed(metrics.PROVIDER_SECONDS.labels(window.provider)):
                    answer = await self._send(request)
            except (Unanswered, Refused) as exc:
                window.release(epoch, answered=False)
                return exc
            throttled = answer.status_code in THROTTLED
            window.release(epoch, answered=True, throttled=throttled)
            if not throttled:
                return answer
            hint = retry_after(answer.headers.get("retry-after"), self._clock())
            wait = hint if hint is not None else min(_FIRST_BACKOFF * 2**retries, _MAX_BACKOFF)
            if time.monotonic() + wait > give_up:
                return answer  # the delivery goes back to the queue with the Retry-After
            retries += 1
            await asyncio.sleep(wait)

    async def _send(self, request: PushRequest) -> Answer:
        """HTTP/2 by httpx where the service offers it (ALPN); else HTTP/1.1 by aiohttp."""
        if not request.http2_only and (
            not self.http2 or request.provider in self._http1 or request.url.startswith("http:")
        ):
            return await self._send_http1(request)
        if self._h2 is None:
            transport = _GuardedTransport(self.targets, self.verify, self.window)
            self._h2 = httpx.AsyncClient(
                transport=transport, follow_redirects=False, trust_env=False
            )
        try:
            resp = await self._h2.post(
                request.url, content=request.body, headers=request.headers, timeout=self.timeout
            )
        except AddressRefused as exc:
            raise Refused(str(exc)) from None
        except httpx.HTTPError as exc:
            raise Unanswered(type(exc).__name__) from None
        if resp.http_version != "HTTP/2" and not request.http2_only:
            self._http1.add(request.provider)  # no HTTP/2 there: its next requests by aiohttp
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return Answer(resp.status_code, headers, resp.content, resp.http_version)

    async def _send_http1(self, request: PushRequest) -> Answer:
        if self._h1 is None:
            connector = aiohttp.TCPConnector(
                limit=0, ssl=self.verify, resolver=GuardedResolver(self.targets)
            )
            self._h1 = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        try:
            async with self._h1.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                content = await resp.read()
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise Refused(str(exc.os_error)) from None
            raise Unanswered(type(exc).__name__) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unanswered(type(exc).__name__) from None
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return Answer(resp.status, headers, content)


def _reply(result: Reply | BaseException) -> Reply:
    if isinstance(result, Answer | Unanswered | Refused):
        return result
    log.error("push request failed unexpectedly", exc_info=result)
    return Unanswered(f"unexpected {type(result).__name__}")
