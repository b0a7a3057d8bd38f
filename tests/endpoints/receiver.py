"""A loopback receiver of status webhooks: verifies each request with the reference
``standardwebhooks`` library and answers from a script (status code per request)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    verified: bool
    path: str


@dataclass
class Receiver:
    secret: str = ""
    #: status code for the n-th request (0-based) of a webhook-id; 200 when None
    answer: Callable[[str, int], int] | None = None
    #: requests wait here while it is clear (a delivery held open)
    hold: threading.Event = field(default_factory=threading.Event)
    got: list[Received] = field(default_factory=list)
    redirected_hits: int = 0
    arrived: list[str] = field(default_factory=list)  # webhook-ids that reached the handler
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.hold.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/elsewhere":
                    with receiver._lock:
                        receiver.redirected_hits += 1
                    self._reply(200)
                    return
                with receiver._lock:
                    receiver.arrived.append(self.headers.get("webhook-id", ""))
                receiver.hold.wait(60)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(raw, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                wid = headers.get("webhook-id", "")
                with receiver._lock:
                    n = sum(1 for g in receiver.got if g.webhook_id == wid)
                    receiver.got.append(Received(wid, json.loads(raw), verified, self.path))
                code = receiver.answer(wid, n) if receiver.answer else 200
                self._reply(code)

            def _reply(self, code: int) -> None:
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("location", "/elsewhere")
                body = b"" if code == 204 else b'{"ok": true, "note": "' + b"x" * 500 + b'"}'
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def types(self) -> set[str]:
        return {g.body["type"] for g in self.got if g.verified}

    def wait_for(self, done: Callable[[Receiver], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if done(self):
                    return
            time.sleep(0.05)
        raise AssertionError(f"receiver never saw what was awaited; got {self.got!r}")
