"""``outbound serve --role api --workers N``: several API processes on one port (PostgreSQL),
refused on SQLite with the fix named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from outbound import bootstrap
from outbound.api.signing import new_secret, sign
from outbound.cli.root import cli
from outbound.config import load_settings
from outbound.services.intake.sources import EVENT_TYPES, add_source
from outbound.store.db import make_engine, upgrade
from outbound.store.tables import notifications, webhook_receipts
from outbound.testing.postgres import free_port
from tests.api.test_api import shipping_event
from tests.conftest import CONFIG_DIR, ROOT, FrozenClock, PgServer
from tests.integration.helpers import NY, add_customer, count


def test_serve_refuses_several_api_processes_on_sqlite_and_names_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    upgrade(make_engine(url))
    result = CliRunner().invoke(cli, ["--db", url, "serve", "--role", "api", "--workers", "2"])
    assert result.exit_code == 2
    assert "2 API processes need PostgreSQL" in result.output
    assert "--workers 1, or use --db postgresql://" in result.output


def _spawned_children(pid: int) -> list[int]:
    """Processes started by ``pid`` through multiprocessing's spawn (the extra API processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def two_processes(pg_server: PgServer, clock: FrozenClock) -> Iterator[tuple[str, str, str]]:
    """``serve --role api --workers 2`` on a fresh database: (base url, secret, database url)."""
    url = pg_server.new_database()
    upgrade(make_engine(url))
    app = bootstrap.build(load_settings(CONFIG_DIR, {"database": {"url": url}}, environ={}))
    secret = new_secret()
    with app.engine.begin() as conn:
        add_source(conn, "shop", list(EVENT_TYPES), 10_000, secret=secret, now=clock(), actor="t")
    add_customer(app, "C1", NY)
    app.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OUTBOUND_DATABASE_URL": url}
    command = [sys.executable, "-m", "outbound", "--config-dir", str(CONFIG_DIR), "serve"]
    proc = subprocess.Popen(
        [*command, "--role", "api", "--port", str(port), "--workers", "2"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while len(_spawned_children(proc.pid)) < 1 or not _ready(base):
            assert proc.poll() is None, "outbound serve exited"
            assert time.monotonic() < deadline, "serve --workers 2 did not become ready"
            time.sleep(0.1)
        yield base, secret, url
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert _spawned_children(proc.pid) == []


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.postgres
def test_two_api_processes_keep_one_notification_for_a_hundred_identical_events(
    two_processes: tuple[str, str, str],
) -> None:
    base, secret, url = two_processes
    body = json.dumps(shipping_event("A1")).encode()

    def send(i: int) -> httpx.Response:
        wid = "msg_same" if i % 2 == 0 else f"msg_{uuid.uuid4().hex}"  # same id, or same order
        ts = int(time.time())
        headers = {
            "webhook-id": wid,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, wid, ts, body),
            "content-type": "application/json",
        }
        # a new connection per request: the kernel spreads them over both processes
        return httpx.post(f"{base}/v1/events", content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(send, range(100)))
    assert {r.status_code for r in responses} == {202}
    assert len({tuple(r.json()["notification_ids"]) for r in responses}) == 1
    app = bootstrap.build(load_settings(CONFIG_DIR, {"database": {"url": url}}, environ={}))
    try:
        assert count(app, notifications) == 1 and count(app, webhook_receipts) == 51
    finally:
        app.close()


def test_serve_on_port_zero_listens_on_a_free_port_and_names_it(tmp_path: Path) -> None:
    """``--port 0``: a free port, the same in the start line and on the socket (not 8080)."""
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    upgrade(make_engine(url))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OUTBOUND_DATABASE_URL": url}
    command = [sys.executable, "-m", "outbound", "--config-dir", str(CONFIG_DIR), "serve"]
    proc = subprocess.Popen(
        [*command, "--role", "api", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "outbound serving:" not in line:  # readline returns "" only when serve exits
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "outbound serve exited"
            assert time.monotonic() < deadline, "no start line"
        port = int(line.split("API on http://127.0.0.1:")[1].split(";")[0].split(" ")[0])
        assert port not in (0, 8080)
        while not _ready(f"http://127.0.0.1:{port}"):
            assert proc.poll() is None, "outbound serve exited"
            assert time.monotonic() < deadline, f"nothing answers on the port it named ({port})"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
