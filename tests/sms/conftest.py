"""A real SMSC on loopback: the npm ``smpp`` server driven by outbound/testing/smsc_js/smsc.js.

node and npm are needed; ``npm ci`` runs here when outbound/testing/smsc_js/node_modules is missing (the
Makefile's test target runs it too). Locally a missing node skips; in CI it is a failure.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from outbound.testing import smsc as loopback
from tests.conftest import require_tool
from tests.logcheck import leaks, logs_at_debug

SMS_DIR = loopback.SMS_DIR
SYSTEM_ID, PASSWORD = "outbound", "s3cr3t"  # SMPP passwords are at most 8 chars


def ensure_node_modules() -> str:
    hint = "install Node.js 20+ with npm to run the SMPP tests"
    node, npm = require_tool("node", hint), require_tool("npm", hint)
    if not (SMS_DIR / "node_modules" / "smpp").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SMS_DIR, check=True, timeout=300)
    return node


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


class Smsc(loopback.Smsc):
    """The SMSC process (outbound.testing.smsc): JSON-line commands in, JSON-line events out."""

    def __init__(self, node: str, tls: tuple[str, ...] = ()) -> None:
        super().__init__(SYSTEM_ID, PASSWORD, node=node, tls=tls)

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "adapter": "smpp",
            "port": self.port,
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "enquire_link_seconds": 1.0,
            "response_timeout_seconds": 5.0,
            "reconnect_max_seconds": 0.5,
            "throughput_per_second": 200.0,
            **extra,
        }


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "leaks_logs: the test makes a log leak on purpose (its own assertions check it)"
    )


@pytest.fixture(autouse=True)
def no_secret_in_debug_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test here runs with logs as at ``-vv``; none may show the bind password, a number or a PDU dump."""
    with logs_at_debug() as buffer:
        yield
    if request.node.get_closest_marker("leaks_logs") is None:
        assert leaks(buffer.getvalue(), [PASSWORD]) == []


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    server = Smsc(ensure_node_modules())
    try:
        yield server
    finally:
        server.close()
