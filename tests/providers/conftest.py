"""HTTP SMS providers against loopback servers shaped like them, with the real API on loopback.

Every test runs with logs as at ``-vv``; none may show an auth token, a number or a signature key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from outbound import bootstrap
from outbound.api.app import create_app
from outbound.api.slow import server_config
from outbound.mains.serve import api_deps
from outbound.testing.postgres import free_port
from outbound.testing.twilio import TwilioService
from tests.logcheck import leaks, logs_at_debug

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-9f8e7d6c5b4a"  # what must never show in a log
FROM = "+15005550006"

AppFactory = Callable[..., bootstrap.App]


@pytest.fixture(autouse=True)
def no_secret_in_debug_logs() -> Iterator[None]:
    with logs_at_debug() as buffer:
        yield
    assert leaks(buffer.getvalue(), [TOKEN]) == []


@pytest.fixture
def twilio() -> Iterator[TwilioService]:
    service = TwilioService(ACCOUNT, TOKEN)
    yield service
    service.close()


def twilio_settings(service: TwilioService, **extra: Any) -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT,
        "auth_token": TOKEN,
        "from_number": FROM,
        "api_base": service.url,
        "throughput_per_second": 500.0,
        "timeout_seconds": 5.0,
        **extra,
    }


@dataclass
class Running:
    app: bootstrap.App
    url: str  # the API, which is also [api] public_url
    server: uvicorn.Server

    @property
    def status_url(self) -> str:
        return self.url + "/v1/providers/twilio/status"

    @property
    def inbound_url(self) -> str:
        return self.url + "/v1/providers/twilio/inbound"


@pytest.fixture
def launch(make_app: AppFactory) -> Iterator[Callable[..., Running]]:
    """An app built with ``sections`` and ``[api] public_url`` = its API, serving the provider
    callbacks on a loopback port."""
    servers: list[uvicorn.Server] = []

    def run(**sections: dict[str, Any]) -> Running:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        app = make_app(api={"public_url": url}, **sections)
        deps = api_deps(app)
        server = uvicorn.Server(server_config(create_app(deps), deps, host="127.0.0.1", port=port))
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        return Running(app, url, server)

    yield run
    for server in servers:
        server.should_exit = True


@pytest.fixture
def start(launch: Callable[..., Running]) -> Callable[..., Running]:
    """An app whose SMS goes to Twilio, its API serving the provider callbacks on loopback."""

    def run(service: TwilioService, sms: dict[str, Any] | None = None, **twilio: Any) -> Running:
        return launch(
            sms={"adapter": "twilio", **(sms or {})}, twilio=twilio_settings(service, **twilio)
        )

    return run
