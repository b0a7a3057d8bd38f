"""A real API server per test: uvicorn on a free loopback port, in a thread, on a real database."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from outbound import bootstrap
from outbound.api.app import create_app
from outbound.api.ingest import GroupCommit
from outbound.api.signing import bodyless, new_secret, sign
from outbound.api.slow import server_config
from outbound.mains.serve import api_deps
from outbound.services.intake.sources import EVENT_TYPES, add_source
from outbound.testing.postgres import free_port


@dataclass
class Server:
    url: str
    app: bootstrap.App
    secret: str
    uvicorn: uvicorn.Server
    writer: GroupCommit

    def signed(
        self,
        body: bytes,
        *,
        secret: str | None = None,
        webhook_id: str | None = None,
        offset: float = 0,
    ) -> dict[str, str]:
        ts = int(self.app.clock().timestamp() + offset)
        wid = webhook_id or f"msg_{uuid.uuid4().hex}"
        return {
            "webhook-id": wid,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret or self.secret, wid, ts, body),
            "content-type": "application/json",
        }

    def read(self, path: str, **kw: Any) -> httpx.Response:
        """A signed ``GET path`` (the signature covers ``GET <path>``, see ``signing.bodyless``)."""
        headers = self.signed(bodyless("GET", path), **kw)
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30)

    def post(self, event: dict[str, Any], **kw: Any) -> httpx.Response:
        body = json.dumps(event).encode()
        return httpx.post(
            f"{self.url}/v1/events", content=body, headers=self.signed(body, **kw), timeout=30
        )


def start_server(app: bootstrap.App, secret: str, source_cache_seconds: float = 0) -> Server:
    port = free_port()
    deps = api_deps(app)
    api = create_app(deps, source_cache_seconds=source_cache_seconds)
    server = uvicorn.Server(server_config(api, deps, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return Server(f"http://127.0.0.1:{port}", app, secret, server, api.state.writer)


@pytest.fixture
def server(make_app: Callable[..., bootstrap.App]) -> Iterator[Server]:
    app = make_app()
    with app.engine.begin() as conn:
        secret = new_secret()
        add_source(
            conn, "shop", list(EVENT_TYPES), 10_000, secret=secret, now=app.clock(), actor="test"
        )
    srv = start_server(app, secret)
    try:
        yield srv
    finally:
        srv.uvicorn.should_exit = True
        time.sleep(0.05)
