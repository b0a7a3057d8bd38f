"""Voice fixtures: SIPp callees on free loopback ports, a dialer child process, a customer.

Missing sipp / espeak-ng skips locally and fails in CI (``CI`` set).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from outbound import bootstrap
from outbound.config import load_settings
from outbound.demo.calls import LiveCalls, open_live_calls
from outbound.store.db import make_engine, upgrade
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).resolve().parent / "sipp"  # copied from shared/reference/sipp


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def midday_zone() -> str:
    """An IANA zone where it is about noon now, so quiet hours never defer the test call."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


@dataclass
class VoiceEnv:
    db_url: str
    tmp: Path
    env: dict[str, str]

    def app(self) -> bootstrap.App:
        return bootstrap.build(
            load_settings(ROOT / "config", {"database": {"url": self.db_url}}, environ={})
        )

    def run_dialer(self, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "outbound.mains.dialer", "--db", self.db_url]
        cmd += ["--config-dir", str(ROOT / "config"), "--until-idle"]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def voice_env(tmp_path: Path) -> VoiceEnv:
    require_tool("espeak-ng")  # offline prompts are spoken by espeak-ng
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    env = {
        **os.environ,
        "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": "3",
        "OUTBOUND_VOICE_TTS_CACHE_DIR": str(tmp_path / "tts"),
        "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
        "OUTBOUND_WORKER_POLL_SECONDS": "0.1",
    }
    return VoiceEnv(url, tmp_path, env)


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Start SIPp with a scenario (XML text) on a free port; yields a starter returning the port."""
    sipp = require_tool("sipp")
    procs: list[subprocess.Popen[bytes]] = []
    subprocess.run(
        [sys.executable, str(REFERENCE / "make_dtmf_pcaps.py"), "120", str(tmp_path)],
        check=True,
        capture_output=True,
    )

    def start(xml: str) -> int:
        port, media = free_udp_port(), free_udp_port()
        scenario = tmp_path / f"scenario-{port}.xml"
        scenario.write_text(xml)
        cmd = [sipp, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port)]
        cmd += ["-mp", str(media), "-m", "1", "-nostdin", "-timeout", "60s"]
        procs.append(
            subprocess.Popen(
                cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        return port

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(5)


@contextlib.contextmanager
def neighbour_demo(workdir: Path) -> Iterator[LiveCalls]:
    """A second demo's dialer and callees calling beside a test, as when ``make test`` ran
    beside ``outbound demo`` (issue 21): its own database, callee processes and dialer process,
    all at media priority, its dialer loading its speech model while the test's calls start.
    Stopped by PID when the block ends (the dialer first, then its callees)."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'neighbour.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = bootstrap.build(load_settings(ROOT / "config", {"database": {"url": url}}, environ={}))
    try:
        with open_live_calls(app, lambda _line: None) as live:
            live.seed(app.clock())
            live.start_dialer()
            yield live
    finally:
        app.close()
