"""A real SMSC on loopback: the npm ``smpp`` server driven by tests/sms/smsc.js.

node and npm are needed; ``npm ci`` runs here when tests/sms/node_modules is missing (the
Makefile's test target runs it too). Locally a missing node skips; in CI it is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SMS_DIR = Path(__file__).resolve().parent
SYSTEM_ID, PASSWORD = "outbound", "s3cr3t"  # SMPP passwords are at most 8 chars


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} not found; install Node.js 20+ with npm to run the SMPP tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def ensure_node_modules() -> str:
    node, npm = _need("node"), _need("npm")
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


class Smsc:
    """The SMSC process: JSON-line commands on stdin, JSON-line events on stdout."""

    def __init__(self, node: str) -> None:
        self.proc = subprocess.Popen(
            [node, str(SMS_DIR / "smsc.js"), SYSTEM_ID, PASSWORD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(eventually(lambda: self._first("listening"), 15, "SMSC to listen")["port"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self._events.append(json.loads(line))

    def _first(self, ev: str) -> dict[str, Any] | None:
        found = self.events(ev)
        return found[0] if found else None

    def events(self, ev: str, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self._events
                if e["ev"] == ev and all(e.get(k) == v for k, v in match.items())
            ]

    def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        before = len(self.events("ok"))
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        eventually(lambda: len(self.events("ok")) > before, 5, f"SMSC to take {cmd}")

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

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    server = Smsc(ensure_node_modules())
    try:
        yield server
    finally:
        server.close()
