"""The status read model on a real database (both engines): queue, due against deferred,
sends and failures, heartbeats; and `outbound status --json` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.observability import status
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, SHANGHAI, add_customer, shipping, trigger

OUTBOUND = str(Path(sys.executable).with_name("outbound"))


def test_one_due_and_one_deferred_delivery_show_in_the_queue_and_due_tables(
    make_app: Callable[..., bootstrap.App], clock: FrozenClock
) -> None:
    app = make_app()
    ny = add_customer(app, "C1", NY, preference="sms", timezone="America/New_York")
    sh = add_customer(app, "C2", SHANGHAI, preference="sms", timezone="Asia/Shanghai")
    trigger(app, Kind.SHIPPING, ny, shipping("A1"))  # 10:00 in New York: due now
    trigger(app, Kind.SHIPPING, sh, shipping("A2"))  # 23:00 in Shanghai: deferred to morning

    snap = status.read(app.engine, clock())

    assert [(r.channel, r.status, r.count) for r in snap.queue] == [("sms", "queued", 2)]
    (due,) = snap.due
    assert (due.channel, due.due_now, due.deferred) == ("sms", 1, 1)
    assert due.next_resume is not None and due.next_resume > clock()
    assert snap.oldest_due_seconds == 0.0
    assert snap.sends_per_second == [] and snap.failures == []

    clock.advance(minutes=10)
    assert status.read(app.engine, clock()).oldest_due_seconds == 600.0


def test_a_worked_delivery_counts_as_a_send_in_the_last_minute(
    make_app: Callable[..., bootstrap.App], clock: FrozenClock
) -> None:
    app = make_app()
    ny = add_customer(app, "C1", NY, preference="sms", timezone="America/New_York")
    trigger(app, Kind.SHIPPING, ny, shipping("A1"))
    assert app.dispatcher().run_once() == 1

    snap = status.read(app.engine, clock())

    assert snap.sends_per_second == [{"channel": "sms", "provider": "sms", "per_second": 0.017}]
    assert snap.providers == [{"provider": "sms", "sent": 1, "failed": 0, "health": "ok"}]
    assert snap.queue == []


def test_a_heartbeat_makes_its_role_alive_and_goes_when_the_process_stops(
    make_app: Callable[..., bootstrap.App], clock: FrozenClock
) -> None:
    app = make_app()
    stop = threading.Event()
    beat = status.Heartbeat(app.engine, "worker", clock, stop).start()
    assert status.read(app.engine, clock()).alive == {"worker": 1}

    clock.advance(seconds=status.STALE_SECONDS + 1)  # three beats missed: not alive
    assert status.read(app.engine, clock()).alive == {}

    stop.set()
    beat.thread.join(30)
    clock.advance(seconds=-(status.STALE_SECONDS + 1))
    assert status.read(app.engine, clock()).alive == {}  # the row is gone


def test_status_json_as_a_real_process_names_every_section(
    make_app: Callable[..., bootstrap.App], db_url: str, tmp_path: Path
) -> None:
    app = make_app()
    ny = add_customer(app, "C1", NY, preference="sms", timezone="America/New_York")
    trigger(app, Kind.SHIPPING, ny, shipping("A1"))
    env = {**os.environ, "OUTBOUND_DATABASE_URL": db_url}
    out = subprocess.run(
        [OUTBOUND, "status", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert sorted(data) == sorted(
        [
            "at",
            "queue",
            "due",
            "oldest_due_seconds",
            "sends_per_second",
            "failures",
            "alive",
            "calls_in_progress",
            "providers",
            "audit_head",
            "checkpoint_at",
            "checkpoint_age_seconds",
        ]
    )
    assert data["queue"] == [{"channel": "sms", "status": "queued", "count": 1}]
    human = subprocess.run(
        [OUTBOUND, "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert human.returncode == 0, human.stderr
    assert "Queue" in human.stdout and "[audit] checkpoint_to" in human.stdout


def test_status_refuses_json_with_watch_naming_both_flags(tmp_path: Path) -> None:
    out = subprocess.run(
        [OUTBOUND, "status", "--json", "--watch"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "--json and --watch do not go together" in out.stderr
    assert "Traceback" not in out.stderr
