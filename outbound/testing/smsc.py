"""The loopback SMSC (``smsc_js/smsc.js`` beside this module, on the npm ``smpp`` server) as a
child process.

Used by the SMPP tests, ``outbound demo`` and the benchmarks. It needs ``node`` on the PATH and
``smsc_js/node_modules`` (made by ``make test``, or ``cd outbound/testing/smsc_js && npm ci``);
``unavailable()`` says what is missing.

Control: JSON lines on the child's stdin (``command``); events: JSON lines on its stdout, kept
in memory (``events``). See the head of smsc.js for the commands and events.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

SMS_DIR = Path(__file__).resolve().parent / "smsc_js"
SMSC_JS = SMS_DIR / "smsc.js"

T = TypeVar("T")


def unavailable() -> str | None:
    """Why the loopback SMSC cannot run here, or None when it can."""
    if not SMSC_JS.is_file():
        return f"{SMSC_JS} not found (not a source checkout)"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (SMS_DIR / "node_modules" / "smpp").is_dir():
        return "the npm smpp module is not installed (cd outbound/testing/smsc_js && npm ci)"
    return None


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


class Smsc:
    """One smsc.js process listening on 127.0.0.1 (a free port: ``port``)."""

    def __init__(
        self,
        system_id: str,
        password: str,
        *,
        node: str | None = None,
        start_timeout: float = 15.0,
        keep_events: bool = True,
        tls: Sequence[str | Path] = (),
    ) -> None:
        """``tls``: (certificate, key[, client CA]) PEM files: SMPP over TLS, with the client CA
        requiring a client certificate."""
        node = node or shutil.which("node")
        if node is None:
            raise FileNotFoundError("node is not installed")
        self.system_id, self.password = system_id, password
        self.proc = subprocess.Popen(
            [node, str(SMSC_JS), system_id, password, *map(str, tls)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._events: list[dict[str, Any]] = []
        self._counts: dict[str, int] = {}
        self._keep = keep_events  # False: count events only (long benchmark runs)
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="smsc-events", daemon=True).start()
        try:
            listening = wait_for(lambda: self._first("listening"), start_timeout, "SMSC to listen")
        except BaseException:
            self.close()
            raise
        self.port = int(listening["port"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            with self._lock:
                self._counts[event["ev"]] = self._counts.get(event["ev"], 0) + 1
                if self._keep or event["ev"] in ("listening", "ok"):
                    self._events.append(event)

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

    def count(self, ev: str) -> int:
        """How many ``ev`` events arrived (also when ``keep_events`` is False)."""
        with self._lock:
            return self._counts.get(ev, 0)

    def command(self, timeout: float = 5.0, **cmd: Any) -> None:
        """Send one control command and wait for the SMSC's ``ok``."""
        assert self.proc.stdin is not None
        before = self.count("ok")
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        wait_for(lambda: self.count("ok") > before, timeout, f"SMSC to take {cmd}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
