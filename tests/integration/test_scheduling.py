"""Leader election and campaign fires on SQLite (file lock) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.scheduling.scheduler import LeaderLock, last_fire_time, validate_schedule
from outbound.services.campaigns import runs as campaigns
from outbound.store.tables import campaign_runs, notifications
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, add_customer, count

AppFactory = Callable[..., bootstrap.App]
SPEC = campaigns.CampaignSpec(
    "r7",
    Kind.RENEWAL,
    "0 10 * * *",
    "Europe/Berlin",
    {"expires_within_days": 7},
    {"renew_url": "https://shop.example/r?c={external_id}"},
)


def _campaign(app: bootstrap.App) -> int:
    with app.engine.begin() as conn:
        return campaigns.create(conn, SPEC, now=app.clock(), actor="test")


def test_only_one_node_holds_the_leader_lock_until_it_lets_go(make_app: AppFactory) -> None:
    app = make_app()
    first, second = (
        LeaderLock(app.engine),
        LeaderLock(bootstrap.build(app.settings, clock=app.clock).engine),
    )
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        first.release()
        assert second.acquire() is True
    finally:
        first.release()
        second.release()


def test_a_double_fire_of_the_same_tick_creates_nothing_twice(make_app: AppFactory) -> None:
    app = make_app()
    add_customer(app, "C1", NY, membership_tier="gold", membership_expires_on="2026-11-30")
    cid = _campaign(app)
    tick = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    scheduler_a, scheduler_b = app.scheduler(), app.scheduler()
    report_a = scheduler_a.fire(cid, tick)
    report_b = scheduler_b.fire(cid, tick)
    assert report_a is not None and report_b is not None
    assert (report_a.ran, report_a.created) == (True, 1)
    assert report_b.ran is False
    assert count(app, campaign_runs) == 1 and count(app, notifications) == 1


def test_fire_time_is_the_latest_cron_tick_in_the_campaign_zone() -> None:
    trigger = validate_schedule("0 10 * * *", "Europe/Berlin")
    now = datetime(2026, 11, 26, 9, 3, tzinfo=UTC)  # 10:03 CET
    assert last_fire_time(trigger, now) == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)  # 10:30 CEST
    assert last_fire_time(trigger, summer) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_leader_rebuilds_jobs_from_the_table_and_drops_paused_campaigns(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app()
    cid = _campaign(app)
    scheduler = app.scheduler()
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while not scheduler.leader and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scheduler.leader
        scheduler.reload()
        job = scheduler._aps.get_job(f"campaign-{cid}")
        assert job is not None and str(job.trigger.timezone) == "Europe/Berlin"
        with app.engine.begin() as conn:
            campaigns.set_status(conn, cid, "paused", now=clock(), actor="test")
        scheduler.reload()
        assert scheduler._aps.get_job(f"campaign-{cid}") is None
    finally:
        scheduler.stop()


def test_campaign_fire_through_the_scheduler_queues_renewals_for_the_segment(
    make_app: AppFactory,
) -> None:
    app = make_app()
    inside = add_customer(app, "C1", NY, membership_tier="gold", membership_expires_on="2026-11-30")
    add_customer(
        app, "C2", NY, membership_tier="gold", membership_expires_on="2027-03-01"
    )  # too far out
    cid = _campaign(app)
    report = app.scheduler().fire(cid, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert report is not None and report.selected == 1
    with app.engine.begin() as conn:
        owners = list(conn.execute(select(notifications.c.customer_id)).scalars())
        payload = conn.execute(select(notifications.c.payload)).scalar_one()
    assert owners == [inside]
    assert payload["renew_url"] == "https://shop.example/r?c=C1"


def test_the_leader_lock_of_a_sqlite_uri_database_lies_beside_the_file(tmp_path: Path) -> None:
    """``sqlite:///file:/x/o.db?mode=ro&uri=true`` is the file /x/o.db, not "file:/x/o.db"."""
    from outbound.store.db import make_engine

    (tmp_path / "o.db").touch()
    lock = LeaderLock(make_engine(f"sqlite:///file:{tmp_path / 'o.db'}?mode=ro&uri=true"))
    try:
        assert lock.acquire()
        assert (tmp_path / "o.db.scheduler.lock").exists()
    finally:
        lock.release()
