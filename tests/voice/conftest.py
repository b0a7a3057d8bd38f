"""Voice fixtures: SIPp callees on free loopback ports, a dialer child process, a customer.

Missing sipp / espeak-ng skips locally and fails in CI (``CI`` set).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def baresip_config(
    port: int, rtp: int, source: Path, dumps: Path, certificate: Path | None = None
) -> str:
    """A baresip ``config``: SIP on 127.0.0.1:``port``, PCMU at 8 kHz mono, ``source`` (a WAV)
    as its microphone, what it hears dumped into ``dumps``; with ``certificate`` (certificate
    and key in one PEM) also TLS on ``port + 1`` and the SRTP module."""
    tls = [f"sip_certificate {certificate}"] if certificate else []
    return "\n".join(
        [
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{port}",
            *tls,
            "audio_player aufile,/dev/null",
            f"audio_source aufile,{source}",
            "audio_alert aufile,/dev/null",
            "audio_srate 8000",
            "audio_channels 1",
            f"rtp_ports {rtp}-{rtp + 20}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module aufile.so",
            "module sndfile.so",
            *(["module srtp.so"] if certificate else []),
            "module_app account.so",
            "module_app menu.so",
            f"snd_path {dumps}",
            "",
        ]
    )


def launch_baresip(
    binary: str, cfg: Path, log: Path, configure: Callable[[], int], tries: int = 3
) -> tuple[subprocess.Popen[bytes], int]:
    """Start baresip on the config dir ``cfg`` that ``configure`` writes (picking free ports;
    it returns the SIP port) and wait for "baresip is ready". A port found free can be taken
    by another process before baresip binds it (it binds the SIP port for UDP and TCP): then
    new ports, up to ``tries`` starts; any other failure at once, with baresip's log."""
    for attempt in range(1, tries + 1):
        port = configure()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binary, "-f", str(cfg)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 30
        text = ""
        while "baresip is ready" not in (text := log.read_text(errors="replace")):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return proc, port
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if "Address already in use" not in text or attempt == tries:
            raise AssertionError(f"baresip did not start (try {attempt}):\n{text[-2000:]}")
    raise AssertionError("tries must be at least 1")


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
    url = migrated_sqlite(workdir / "neighbour.db")
    app = bootstrap.build(load_settings(ROOT / "config", {"database": {"url": url}}, environ={}))
    try:
        with open_live_calls(app, lambda _line: None) as live:
            live.seed(app.clock())
            live.start_dialer()
            yield live
    finally:
        app.close()


#: Alembic's command API keeps its context in module globals: one migration at a time
_MIGRATING = threading.Lock()


def migrated_sqlite(path: Path) -> str:
    """A fresh SQLite database at ``path``, migrated to head (from any thread); its URL."""
    url = f"sqlite:///{path}"
    with _MIGRATING:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    return url


#: module name -> its batch of live calls (``call_batch``): a context manager over a
#: ``TempPathFactory`` that places the calls and yields what the module's tests read
BATCHES: dict[str, Callable[[pytest.TempPathFactory], contextlib.AbstractContextManager[Any]]] = {}


def call_batch(
    module: str,
) -> Callable[[Callable[[pytest.TempPathFactory], Iterator[Any]]], None]:
    """Register a module's batch of live calls (a generator like a module fixture's body): the
    batches of every selected module start together, when the first of them is asked for."""

    def register(body: Callable[[pytest.TempPathFactory], Iterator[Any]]) -> None:
        BATCHES[module] = contextlib.contextmanager(body)

    return register


class CallBatches:
    """Independent batches of live calls (their own database, callee and dialer processes),
    run at the same time, each on a thread: a call mostly waits for audio to play in real
    time, so batches one after the other left both cores idle for most of a minute each."""

    def __init__(self, factory: pytest.TempPathFactory, wanted: list[str]) -> None:
        self._factory, self._wanted = factory, wanted
        self._pool = ThreadPoolExecutor(max(1, len(wanted)), thread_name_prefix="batch")
        self._futures: dict[str, Future[Any]] = {}
        self._entered: list[contextlib.AbstractContextManager[Any]] = []
        self._lock = threading.Lock()

    def get(self, module: str) -> Any:
        with self._lock:
            if not self._futures:
                for name in dict.fromkeys([*self._wanted, module]):
                    self._futures[name] = self._pool.submit(self._enter, name)
        return self._futures[module].result()

    def _enter(self, module: str) -> Any:
        batch = BATCHES[module](self._factory)
        value = batch.__enter__()
        with self._lock:
            self._entered.append(batch)
        return value

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for batch in reversed(self._entered):
            batch.__exit__(None, None, None)


@pytest.fixture(scope="session")
def call_batches(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CallBatches]:
    selected = {item.module.__name__ for item in request.session.items if item.module}
    batches = CallBatches(tmp_path_factory, [m for m in BATCHES if m in selected])
    try:
        yield batches
    finally:
        batches.close()
