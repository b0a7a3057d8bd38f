"""A loopback receiver of status webhooks for the demo: verifies every request with the
reference ``standardwebhooks`` library (signature and timestamp) and keeps the verified events."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class StatusReceiver:
    def __init__(self) -> None:
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/status"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(raw, headers)
                except WebhookVerificationError:
                    with receiver._lock:
                        receiver.rejected += 1
                    self.send_response(401)
                else:
                    with receiver._lock:
                        receiver.events.append(json.loads(raw))
                    self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

        return Handler

    def start(self) -> StatusReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(str(e.get("type")) for e in self.events)
