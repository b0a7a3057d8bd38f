"""Through real processes: the endpoint CLI, and a ``kill -9`` of the delivery worker
(``outbound serve --role webhooks``) while a delivery is in flight loses nothing: the restarted
worker sends it again, with the same webhook-id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR
from tests.endpoints.receiver import Receiver

OUTBOUND = str(Path(sys.executable).with_name("outbound"))
CSV = "external_id,name,phone,timezone,locale,preference\n" + "".join(
    f"C{i},N{i},+1212555{i:04d},America/New_York,en-US,sms\n" for i in range(1, 6)
)


def _env(home: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")},
        "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}",
        "OUTBOUND_ENDPOINTS_LEASE_SECONDS": "2",
        "OUTBOUND_ENDPOINTS_POLL_SECONDS": "0.1",
        "OUTBOUND_ENDPOINTS_CONCURRENCY": "2",
        "OUTBOUND_WORKER_THREADS": "1",
    }


def run(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [OUTBOUND, "--config-dir", str(CONFIG_DIR), *args],
        cwd=home,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def serve(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [OUTBOUND, "--config-dir", str(CONFIG_DIR), "serve", "--role", "webhooks"],
        cwd=home,
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    (tmp_path / "c.csv").write_text(CSV)
    run(tmp_path, "customer", "import", "c.csv")
    return tmp_path


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _deliveries(home: Path) -> list[dict[str, object]]:
    out = run(home, "endpoint", "deliveries", "desk", "--json").stdout
    return list(json.loads(out))


def test_endpoint_add_prints_a_secret_once_and_list_shows_no_secret(
    home: Path, receiver: Receiver
) -> None:
    out = run(
        home, "endpoint", "add", "desk", "--url", receiver.url, "--events", "notification.deferred"
    ).stdout
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    listed = run(home, "endpoint", "list", "--json").stdout
    assert secret not in listed and json.loads(listed)[0]["status"] == "active"
    bad = run(
        home, "endpoint", "add", "x", "--url", "ftp://shop", "--events", "order.paid", ok=False
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "ftp://shop" in bad.stderr and "order.paid" in bad.stderr


def test_kill_9_of_the_worker_mid_delivery_loses_nothing(home: Path, receiver: Receiver) -> None:
    out = run(home, "endpoint", "add", "desk", "--url", receiver.url).stdout
    receiver.secret = out.strip().splitlines()[-1]
    for i in range(1, 4):  # each a customer.opted_out event, written by the CLI's transaction
        run(home, "consent", "revoke", "--channel", "sms", "--purpose", "marketing",
            "--customer", f"C{i}")  # fmt: skip
    written = {str(d["webhook_id"]) for d in _deliveries(home)}
    assert len(written) == 3
    receiver.hold.clear()  # the first delivery is held open
    first = serve(home)
    try:
        deadline = time.monotonic() + 90
        while not receiver.arrived and time.monotonic() < deadline:
            time.sleep(0.05)
        held = receiver.arrived[0]  # in flight: sent, not answered, not recorded
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    receiver.hold.set()  # the dead process's request ends; its answer goes nowhere
    second = serve(home)
    try:
        receiver.wait_for(lambda r: {g.webhook_id for g in r.got if g.verified} >= written, 120)
        # sent again after the lease ran out, with the same webhook-id
        receiver.wait_for(lambda r: [g.webhook_id for g in r.got].count(held) >= 2, 60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    assert all(g.verified for g in receiver.got)
    rows = _deliveries(home)
    assert {str(r["status"]) for r in rows if r["webhook_id"] in written} == {"delivered"}
