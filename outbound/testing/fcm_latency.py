"""An FCM HTTP v1-shaped push service that answers every send after a delay, in its own process.

``python -m outbound.testing.fcm_latency [--delay-ms 100] [--project P] [--token T]`` listens on
127.0.0.1 (a free port) with TLS and a self-signed certificate made at start, offering HTTP/2
(ALPN ``h2``, many streams on one connection, as fcm.googleapis.com does) and HTTP/1.1
(keep-alive), and prints one JSON line: ``{"ev": "listening", "port": …, "ca_file": …}``.
It stops when its stdin closes.

``POST /v1/projects/{project}/messages:send`` with ``Authorization: Bearer {token}`` answers,
``delay`` later, ``200 {"name": "projects/{project}/messages/N"}``; a message token starting with
``unregistered`` gets FCM's ``404 NOT_FOUND / UNREGISTERED``, one starting with ``throttled``
gets ``429 RESOURCE_EXHAUSTED / QUOTA_EXCEEDED`` with ``Retry-After: 0`` the first time it is
seen. ``GET /stats`` answers what it saw: requests, the largest number in flight at once
(``max_in_flight``, over all connections) and on one connection (``max_streams``), connections
and their protocols.

Stands alone (the standard library, ``h2``, ``h11``, and ``cryptography`` through
``outbound.testing.tls``), so the benchmarks can run it beside any version of outbound;
``LatencyFcm`` starts it as a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h11

from outbound.testing.tls import self_signed

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Service:
    """What every connection shares: the FCM rules, the delay and the counters."""

    project: str
    token: str
    delay: float
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    max_streams: int = 0
    protocols: Counter[str] = field(default_factory=Counter)
    throttled: set[str] = field(default_factory=set)
    first_request: float = 0.0  # time.monotonic() (system-wide on Linux)
    last_answer: float = 0.0

    def started(self, path: str) -> float:
        """Count a request that has fully arrived; the seconds until it is answered."""
        if path.startswith("/stats"):
            return 0.0  # the benchmark's look at the counters is neither counted nor delayed
        if not self.requests:
            self.first_request = time.monotonic()
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self.delay

    def answered(self) -> None:
        self.in_flight -= 1
        self.last_answer = time.monotonic()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method == "GET" and path in ("/stats", "/stats?reset=1"):
            stats = self.stats()
            if path.endswith("reset=1"):
                self.reset()
            return _json(200, stats)
        self.answered()
        if path != f"/v1/projects/{self.project}/messages:send":
            return _error(404, "NOT_FOUND", f"no such method {path}")
        if headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials")
        try:
            token = str(json.loads(body)["message"]["token"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "INVALID_ARGUMENT", "body is not JSON with a message.token")
        if token.startswith("unregistered"):
            return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if token.startswith("throttled") and token not in self.throttled:
            self.throttled.add(token)
            return _error(
                429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED", {"retry-after": "0"}
            )
        return _json(200, {"name": f"projects/{self.project}/messages/{self.requests}"})

    def reset(self) -> None:
        self.requests = self.max_in_flight = self.max_streams = 0
        self.first_request = self.last_answer = 0.0
        self.protocols.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "first_request": self.first_request,
            "last_answer": self.last_answer,
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "max_streams": self.max_streams,
            "connections": dict(self.protocols),
        }


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return (
        status,
        {"content-type": "application/json", **(headers or {})},
        json.dumps(data).encode(),
    )


def _error(
    status: int, name: str, message: str, code: str = "", headers: dict[str, str] | None = None
) -> Answer:
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
        if code
        else []
    )
    error = {"code": status, "message": message, "status": name, "details": details}
    return _json(status, {"error": error}, headers)


class Http2(asyncio.Protocol):
    """One HTTP/2 connection: every stream answered ``delay`` after its request ended."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.open = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.service.protocols["h2"] += 1
        self.conn.local_settings.max_concurrent_streams = 1000
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(2**30)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = {_s(k): _s(v) for k, v in event.headers or []}
                self.streams[event.stream_id] = (headers, bytearray())
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id][1].extend(event.data or b"")
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._request_ended(event.stream_id)
        self._flush()

    def _request_ended(self, stream_id: int) -> None:
        delay = self.service.started(self.streams[stream_id][0].get(":path", ""))
        self.open += 1
        self.service.max_streams = max(self.service.max_streams, self.open)
        asyncio.get_running_loop().call_later(delay, self._respond, stream_id)

    def _respond(self, stream_id: int) -> None:
        headers, body = self.streams.pop(stream_id)
        self.open -= 1
        status, out, payload = self.service.answer(
            headers.get(":method", ""), headers.get(":path", ""), headers, bytes(body)
        )
        if self.transport is None or self.transport.is_closing():
            return
        fields = [(":status", str(status)), ("content-length", str(len(payload)))]
        self.conn.send_headers(stream_id, fields + list(out.items()))
        self.conn.send_data(stream_id, payload, end_stream=True)
        self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class Http1(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection: one request at a time, answered after ``delay``."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.conn = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.request: h11.Request | None = None
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.service.protocols["http/1.1"] += 1

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._events()

    def _events(self) -> None:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                if self.transport is not None:
                    self.transport.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request, self.body = event, bytearray()
            elif isinstance(event, h11.Data):
                self.body.extend(event.data)
            elif isinstance(event, h11.EndOfMessage):
                target = _s(self.request.target) if self.request is not None else ""
                delay = self.service.started(target)
                asyncio.get_running_loop().call_later(delay, self._respond)
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _respond(self) -> None:
        request, self.request = self.request, None
        if request is None or self.transport is None or self.transport.is_closing():
            return
        headers = {_s(k).lower(): _s(v) for k, v in request.headers}
        status, out, payload = self.service.answer(
            _s(request.method), _s(request.target), headers, bytes(self.body)
        )
        fields = [("content-length", str(len(payload))), *out.items()]
        self.transport.write(self.conn.send(h11.Response(status_code=status, headers=fields)))
        self.transport.write(self.conn.send(h11.Data(data=payload)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        if self.conn.our_state is h11.MUST_CLOSE:
            self.transport.close()
            return
        self.conn.start_next_cycle()
        self._events()  # a pipelined request already read

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class Switch(asyncio.Protocol):
    """Hands a TLS connection to the HTTP/2 or HTTP/1.1 protocol its ALPN chose."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        self.inner = Http2(self.service) if alpn == "h2" else Http1(self.service)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        assert self.inner is not None
        self.inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)


def _s(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


async def serve(service: Service, directory: Path) -> None:
    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Switch(service), "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"ev": "listening", "port": port, "ca_file": str(cert)}), flush=True)
    stdin_closed = loop.create_future()
    threading.Thread(target=_wait_stdin, args=(loop, stdin_closed), daemon=True).start()
    async with server:
        await stdin_closed


def _wait_stdin(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
    for _line in sys.stdin:
        pass
    loop.call_soon_threadsafe(_finish, done)


def _finish(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outbound.testing.fcm_latency")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="answer delay (100)")
    parser.add_argument("--project", default="bench-project")
    parser.add_argument("--token", default="ya29.bench-token", help="accepted Bearer token")
    args = parser.parse_args(argv)
    service = Service(args.project, args.token, args.delay_ms / 1000)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with tempfile.TemporaryDirectory(prefix="outbound-fcm-latency-") as tmp:
        asyncio.run(serve(service, Path(tmp)))
    return 0


class LatencyFcm:
    """The server above as a child process (``url``, ``ca_file``, ``stats()``)."""

    def __init__(
        self,
        delay_ms: float = 100.0,
        project: str = "bench-project",
        token: str = "ya29.bench-token",
    ) -> None:
        argv = [sys.executable, "-m", "outbound.testing.fcm_latency", "--delay-ms", str(delay_ms)]
        argv += ["--project", project, "--token", token]
        self.project, self.token = project, token
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the loopback FCM latency server did not start")
        started = json.loads(line)
        self.port, self.ca_file = int(started["port"]), str(started["ca_file"])
        self.url = f"https://127.0.0.1:{self.port}"

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """What the server saw (``reset``: then start counting afresh)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        try:
            conn.request("GET", "/stats?reset=1" if reset else "/stats")
            data: dict[str, Any] = json.loads(conn.getresponse().read())
            return data
        finally:
            conn.close()

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> LatencyFcm:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


if __name__ == "__main__":
    raise SystemExit(main())
