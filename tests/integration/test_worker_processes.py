"""Real worker processes against one real database (SQLite file and PostgreSQL).

The workers are separate OS processes (``outbound serve --role worker --until-idle``, or the
slow-provider child in ``worker_child.py``) and use the real clock, so every customer lives in a
time zone whose contact window is open right now. The tests only look at the database
afterwards: ``deliveries`` (the queue), ``log_sends`` (what the embedded provider "sent", one
row per idempotency key) and ``cap_counters``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from sqlalchemy import Engine, func, select, text

from outbound import bootstrap
from outbound.config import load_settings
from outbound.domain.values import Channel, DeliveryStatus, Kind, Send
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.services.send import notify
from outbound.store.tables import cap_counters, deliveries, log_sends
from tests.conftest import CONFIG_DIR, ROOT

pytestmark = pytest.mark.slow

OUTBOUND = Path(sys.executable).parent / "outbound"
CHILD = Path(__file__).resolve().parent / "worker_child.py"

#: Real zones with the country their phone numbers belong to; their UTC offsets leave no gap
#: of 7 hours, so at any moment one of them has a local time between 10:00 and 17:00.
ZONES = [
    ("Pacific/Honolulu", "US"),
    ("America/Los_Angeles", "US"),
    ("America/New_York", "US"),
    ("America/Sao_Paulo", "BR"),
    ("Europe/London", "GB"),
    ("Europe/Berlin", "DE"),
    ("Asia/Dubai", "AE"),
    ("Asia/Kolkata", "IN"),
    ("Asia/Shanghai", "CN"),
    ("Asia/Tokyo", "JP"),
    ("Australia/Sydney", "AU"),
    ("Pacific/Auckland", "NZ"),
]


def zone_open_now() -> tuple[str, str]:
    """A (zone, country) whose local hour is 10..16 now: every jurisdiction's window is open
    (the narrowest ends at 20:00), with hours to spare for the test's run time."""
    now = datetime.now(UTC)
    for zone, country in ZONES:
        if 10 <= now.astimezone(ZoneInfo(zone)).hour <= 16:
            return zone, country
    raise AssertionError(f"no zone in {ZONES} has a local hour of 10..16 at {now}")


def mobile_numbers(country: str, n: int) -> list[str]:
    """``n`` distinct valid E.164 mobile numbers of ``country``."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise SetupError(f"phonenumbers has no example mobile number for {country}")
    base = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    found: list[str] = []
    for i in range(10_000):
        candidate = base[:-4] + f"{i:04d}"
        number = phonenumbers.parse(candidate, None)
        if phonenumbers.is_valid_number(number) and (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == candidate
        ):
            found.append(candidate)
            if len(found) == n:
                return found
    raise AssertionError(f"only {len(found)} valid {country} numbers near {base}")


def make_config(tmp_path: Path, caps_toml: str = "") -> Path:
    """A config dir: the repository's policies.toml and an outbound.toml with only ``caps``."""
    config = tmp_path / "config"
    config.mkdir()
    shutil.copyfile(CONFIG_DIR / "policies.toml", config / "policies.toml")
    (config / "outbound.toml").write_text(caps_toml, encoding="utf-8")
    return config


def build_app(db_url: str, config: Path) -> bootstrap.App:
    settings = load_settings(config, {"database": {"url": db_url}}, environ={})
    return bootstrap.build(settings)  # the real clock, like the worker processes


@dataclass(frozen=True)
class Seeded:
    zone: str
    notes: dict[int, list[int]]  # customer id -> notification ids


def add_customers(app: bootstrap.App, n: int, zone: str, country: str) -> list[int]:
    """``n`` customers in ``zone`` who take SMS only (no other channel to fall back to)."""
    now = datetime.now(UTC)
    ids = []
    with app.engine.begin() as conn:
        for phone in mobile_numbers(country, n):
            record = validate_record(
                {
                    "external_id": f"W{phone[1:]}",
                    "phone": phone,
                    "timezone": zone,
                    "country": country,
                    "locale": "en-US",
                    "preference": "sms",
                }
            )
            ids.append(upsert_customer(conn, record, now=now, actor="test", source="test")[0])
    return ids


def enqueue_shipping(
    app: bootstrap.App, pairs: list[tuple[int, str]], zone: str, now: datetime
) -> list[int]:
    """One shipping notification per (customer, order id), planned at ``now``; all due now."""
    eta = (now + timedelta(days=2)).date().isoformat()
    requests = [
        notify.prepare(
            Kind.SHIPPING,
            cid,
            zone,
            {"order_id": order, "carrier": "DHL", "tracking_no": f"T{order}", "eta": eta},
            now=now,
            expiry=app.expiry,
            source="test",
        )
        for cid, order in pairs
    ]
    with app.engine.begin() as conn:
        done = notify.enqueue(conn, requests, rules=app.rules, now=now, actor="test")
    planned = {e.decision.channel if isinstance(e.decision, Send) else e.decision for e in done}
    if not all(e.created for e in done) or planned != {Channel.SMS}:
        raise SetupError(f"precondition: every notification is an SMS due now in {zone}: {planned}")
    return [e.notification_id for e in done]


def seed(app: bootstrap.App, customers: int, per_customer: int) -> Seeded:
    """Customers in a zone whose window is open now, each with ``per_customer`` shipping
    notifications. Enqueued round-robin over the customers, so every claim batch mixes them."""
    zone, country = zone_open_now()
    ids = add_customers(app, customers, zone, country)
    pairs = [(cid, f"O{cid}-{n}") for n in range(per_customer) for cid in ids]
    nids = enqueue_shipping(app, pairs, zone, datetime.now(UTC))
    notes: dict[int, list[int]] = {cid: [] for cid in ids}
    for (cid, _), nid in zip(pairs, nids, strict=True):
        notes[cid].append(nid)
    return Seeded(zone, notes)


def child_env(**settings: str) -> dict[str, str]:
    """The environment without any inherited OUTBOUND_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env.update({f"OUTBOUND_{k.upper()}": v for k, v in settings.items()})
    return env


class SetupError(Exception):
    """The test's setup broke (a worker crashed or hung, a precondition did not hold): never
    an expected failure."""


class Workers:
    """Child processes with their output in files; every one is killed on exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        logs.mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        with (
            open(self.logs / f"worker-{n}.out", "wb") as out,
            open(self.logs / f"worker-{n}.err", "wb") as err,
        ):
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=err)
        self.procs.append(proc)
        return proc

    def serve(self, db_url: str, config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        cmd = [str(OUTBOUND), "--db", db_url, "--config-dir", str(config), "serve"]
        return self.start([*cmd, "--role", "worker", "--until-idle", "--threads", "1"], env)

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        n = self.procs.index(proc)
        return (self.logs / f"worker-{n}.err").read_text(errors="replace")[-3000:]

    def wait_all(self, procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
        """Every process exits with 0 within ``timeout`` seconds (all together)."""
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                raise SetupError(
                    f"worker {proc.pid} still running after {timeout}s:\n{self.output(proc)}"
                ) from None
            if code != 0:
                raise SetupError(f"worker {proc.pid} exited {code}:\n{self.output(proc)}")

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path / "logs")
    try:
        yield group
    finally:
        group.kill_all()


def _waits_for_sqlite_lock(pid: int) -> bool:
    """A thread of ``pid`` sleeps in SQLite's busy handler (it waits for the write lock)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if "nanosleep" in (task / "wchan").read_text():
                return True
        except OSError:
            continue
    return False


@contextmanager
def start_gate(engine: Engine, procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Hold the queue's write lock until every worker process waits for it, so they all start
    claiming together instead of the first one to boot draining the queue alone."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
        else:
            conn.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))  # BEGIN IMMEDIATE
        yield
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break  # one died early: let the caller report it
            if _all_waiting(engine, procs):
                break
            time.sleep(0.1)
        else:
            raise SetupError("worker processes did not reach the database within 60 s")
        conn.rollback()


def _all_waiting(engine: Engine, procs: list[subprocess.Popen[bytes]]) -> bool:
    if engine.dialect.name == "postgresql":
        with engine.connect() as probe:
            waiting = probe.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        return int(waiting) >= len(procs)
    return all(_waits_for_sqlite_lock(p.pid) for p in procs)


def delivery_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)))


def sent_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(log_sends.c.idempotency_key)).scalars())


def sms_sent_per_customer(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(log_sends.c.customer_id, func.count())
            .where(log_sends.c.channel == Channel.SMS.value)
            .group_by(log_sends.c.customer_id)
        ).all()
    return {int(cid): int(n) for cid, n in rows}


def counters_per_customer(engine: Engine) -> tuple[dict[str, int], dict[int, int]]:
    """Every cap counter, and their sum per customer (keys are ``c<customer id>:...``)."""
    with engine.connect() as conn:
        counters = {
            k: int(n) for k, n in conn.execute(select(cap_counters.c.key, cap_counters.c.n))
        }
    per_customer: Counter[int] = Counter()
    for key, n in counters.items():
        per_customer[int(key[1 : key.index(":")])] += n
    return counters, dict(per_customer)


# --- tests ----------------------------------------------------------------------------------


def test_four_worker_processes_never_claim_the_same_delivery(
    db_url: str, tmp_path: Path, workers: Workers
) -> None:
    config = make_config(tmp_path)  # no operator caps: nothing but the claims decides
    app = build_app(db_url, config)
    try:
        seeded = seed(app, customers=40, per_customer=10)
        queued = delivery_rows(app.engine)
        env = child_env(worker_batch_size="10")
        procs: list[subprocess.Popen[bytes]] = []
        with start_gate(app.engine, procs):
            procs.extend(workers.serve(db_url, config, env) for _ in range(4))
        workers.wait_all(procs, timeout=120)

        rows = delivery_rows(app.engine)
        keys = sent_keys(app.engine)
    finally:
        app.close()
    assert len(queued) == sum(len(n) for n in seeded.notes.values())
    assert len(rows) == len(queued)  # no next rung was planned: every send was delivered
    assert {r.status for r in rows} == {DeliveryStatus.DONE.value}
    assert {r.outcome for r in rows} == {"delivered"}
    per_key = Counter(keys)
    assert sorted(per_key) == sorted(f"delivery-{r.id}" for r in rows)
    assert max(per_key.values()) == 1
    attempts = [r.attempts for r in rows]
    assert sum(attempts) == len(rows), Counter(attempts)  # each delivery claimed exactly once
    # The start gate had all four waiting on the claim lock. SKIP LOCKED then spreads the
    # queue over them; SQLite's busy handler is not fair (a waiter polls, the process that
    # holds the lock may take it again at once), so there one process may well do it all.
    owners = Counter(r.lease_owner for r in rows)
    if db_url.startswith("postgresql"):
        assert len(owners) >= 2, f"no contention happened: {owners}"


SMS_CAP = 3
SMS_CAP_TOML = (
    f'[[caps]]\nname = "sms_per_day"\nlimit = {SMS_CAP}\nwindow = "day"\nchannel = "sms"\n'
)


def test_caps_never_exceeded_with_eight_worker_processes(
    db_url: str, tmp_path: Path, workers: Workers
) -> None:
    config = make_config(tmp_path, SMS_CAP_TOML)
    app = build_app(db_url, config)
    try:
        seeded = seed(app, customers=10, per_customer=12)
        env = child_env(worker_batch_size="3")
        procs: list[subprocess.Popen[bytes]] = []
        with start_gate(app.engine, procs):
            procs.extend(workers.serve(db_url, config, env) for _ in range(8))
        workers.wait_all(procs, timeout=120)

        sent = sms_sent_per_customer(app.engine)
        counters, reserved = counters_per_customer(app.engine)
        rows = delivery_rows(app.engine)
    finally:
        app.close()
    assert sent == {cid: SMS_CAP for cid in seeded.notes}  # enough were due to reach the cap
    assert max(counters.values()) <= SMS_CAP, counters
    assert reserved == sent  # every reserved unit is one send: none leaked, none skipped
    done = [r for r in rows if r.status == DeliveryStatus.DONE.value]
    assert len(done) == SMS_CAP * len(seeded.notes)
    # the rest waits for the customer's next local day, when the daily cap frees up
    zone = ZoneInfo(seeded.zone)
    tomorrow = datetime.combine(
        datetime.now(zone).date() + timedelta(days=1), datetime.min.time(), tzinfo=zone
    )
    waiting = [r for r in rows if r.status != DeliveryStatus.DONE.value]
    assert {r.status for r in waiting} == {DeliveryStatus.QUEUED.value}
    assert min(r.due_at for r in waiting) >= tomorrow


def test_until_idle_worker_sends_everything_due_past_a_batch_deferred_by_the_cap(
    db_url: str, tmp_path: Path, workers: Workers
) -> None:
    config = make_config(tmp_path, SMS_CAP_TOML)
    app = build_app(db_url, config)
    try:
        zone, country = zone_open_now()
        capped, other = add_customers(app, 2, zone, country)
        start = datetime.now(UTC) - timedelta(seconds=2)
        enqueue_shipping(app, [(capped, f"A{n}") for n in range(2 * SMS_CAP)], zone, start)
        enqueue_shipping(app, [(other, "B1")], zone, start + timedelta(seconds=1))
        # batch 1: the cap's worth for `capped`; batch 2: only `capped` again, all deferred --
        # which is no reason to stop while `other` is still due
        env = child_env(worker_batch_size=str(SMS_CAP))
        workers.wait_all([workers.serve(db_url, config, env)], timeout=60)
        sent = sms_sent_per_customer(app.engine)
    finally:
        app.close()
    assert sent == {capped: SMS_CAP, other: 1}


def test_kill_9_mid_batch_then_every_delivery_sent_exactly_once(
    db_url: str, tmp_path: Path, workers: Workers
) -> None:
    config = make_config(tmp_path)
    app = build_app(db_url, config)
    env = child_env(worker_batch_size="20", worker_lease_seconds="2", scheduler_reap_seconds="1")
    try:
        seed(app, customers=6, per_customer=10)
        total = len(delivery_rows(app.engine))
        child = workers.start(
            [sys.executable, str(CHILD), "--db", db_url, "--config-dir", str(config)], env
        )
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the slow worker sent nothing within 60 s"
            assert child.poll() is None, f"slow worker exited early:\n{workers.output(child)}"
            rows = delivery_rows(app.engine)
            leased = [r for r in rows if r.status == DeliveryStatus.LEASED.value]
            if len(sent_keys(app.engine)) >= 3 and leased:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)

        rows = delivery_rows(app.engine)
        in_flight = {r.id: r for r in rows if r.status == DeliveryStatus.LEASED.value}
        sent_before = len(sent_keys(app.engine))
        assert in_flight, "precondition: the worker was killed in the middle of a batch"
        assert 0 < sent_before < total

        # Fresh workers reap the dead worker's leases once they expired and drain the queue.
        lease_end = max(r.lease_until for r in in_flight.values())
        deadline = time.monotonic() + 90
        while True:
            rows = delivery_rows(app.engine)
            left = Counter(r.status for r in rows if r.status != DeliveryStatus.DONE.value)
            if not left:
                break
            assert time.monotonic() < deadline, f"not drained within 90 s: {left}"
            while datetime.now(UTC) <= lease_end:
                time.sleep(0.1)
            workers.wait_all([workers.serve(db_url, config, env)], timeout=60)
        keys = sent_keys(app.engine)
    finally:
        app.close()
    assert len(rows) == total
    assert Counter(keys) == Counter(f"delivery-{r.id}" for r in rows)
    again = {r.id: r.attempts for r in rows if r.id in in_flight}
    assert all(n > 1 for n in again.values()), again  # the killed batch was claimed again
    assert all(r.attempts == 1 for r in rows if r.id not in in_flight)
