"""Campaigns that would fail at every firing are refused at creation; a firing that fails
anyway is finished with its error on the run (one log line, no traceback, no open run)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from outbound import bootstrap
from outbound.domain.errors import ValidationError
from outbound.domain.values import Kind
from outbound.scheduling.scheduler import validate_schedule
from outbound.services.campaigns import runs as campaigns
from outbound.store.tables import audit_events, campaign_runs, notifications
from outbound.store.tables import campaigns as campaigns_table
from tests.cli_run import run_cli
from tests.conftest import CONFIG_DIR
from tests.integration.helpers import BERLIN, NY, add_customer, count

AppFactory = Callable[..., bootstrap.App]
RENEW = {"renew_url": "https://shop.example/r?c={external_id}"}
PRICE = {
    "title": "Kettle",
    "old_price": "40.00",
    "new_price": "30.00",
    "currency": "EUR",
    "url": "https://shop.example/p/kettle",
}


def _create(
    home: Path, name: str, kind: str, schedule: str, segment: object, params: object
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        [
            "--config-dir",
            str(CONFIG_DIR),
            "campaign",
            "create",
            name,
            "--kind",
            kind,
            "--schedule",
            schedule,
            "--timezone",
            "Europe/Berlin",
            "--segment",
            json.dumps(segment),
            "--params",
            json.dumps(params),
        ],
        cwd=home,
        env={**os.environ, "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}"},
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    done = run_cli(["--config-dir", str(CONFIG_DIR), "--db", url, "db", "upgrade"])
    assert done.returncode == 0, done.stderr
    return tmp_path


@pytest.mark.parametrize(
    ("kind", "schedule", "segment", "params", "message"),
    [
        (
            "renewal",
            "0 10 * * *",
            {"expires_within_days": 7},
            {"renew_url": "javascript:alert(1)"},
            "params.renew_url: 'javascript:alert(1)' is not an http(s) URL",
        ),
        (
            "price_drop",
            "0 10 * * *",
            {"wishlist_sku": "SKU-1"},
            {**PRICE, "new_price": "45.00"},
            "params.new_price: '45",
        ),
        (
            "renewal",
            "0 10 30 2 *",
            {"expires_within_days": 7},
            RENEW,
            "schedule: '0 10 30 2 *' never fires (no such date, e.g. 30 February)",
        ),
        (  # fine as a template, too long once a 128-character external id is put in
            "renewal",
            "0 10 * * *",
            {"expires_within_days": 7},
            {"renew_url": "https://shop.example/r?" + "x" * 1940 + "&c={external_id}"},
            "(in what a firing sends)",
        ),
    ],
    ids=["javascript-url", "price-rises", "never-fires", "url-too-long-per-member"],
)
def test_campaign_create_refuses_what_every_firing_would_fail_on(
    home: Path, kind: str, schedule: str, segment: object, params: object, message: str
) -> None:
    proc = _create(home, "c1", kind, schedule, segment, params)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr
    ok = _create(home, "c1", "price_drop", "0 10 * * *", {"wishlist_sku": "SKU-1"}, PRICE)
    assert ok.returncode == 0, ok.stderr  # the refused one left nothing behind (name is free)


def test_a_firing_that_fails_is_finished_with_its_error_on_the_run(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    add_customer(app, "C1", NY, membership_tier="gold", membership_expires_on="2026-11-30")
    spec = campaigns.CampaignSpec(
        "r7", Kind.RENEWAL, "0 10 * * *", "Europe/Berlin", {"expires_within_days": 7}, RENEW
    )
    with app.engine.begin() as conn:
        cid = campaigns.create(conn, spec, now=app.clock(), actor="test")
        # stored by an older version, before params were checked at creation
        conn.execute(update(campaigns_table).values(params={"renew_url": "javascript:alert(1)"}))
    tick = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="outbound.scheduling.scheduler"):
        report = app.scheduler().fire(cid, tick)
    assert report is not None and report.ran and report.error is not None
    with app.engine.begin() as conn:
        run = conn.execute(select(campaign_runs)).one()
        actions = conn.execute(select(audit_events.c.action)).scalars().all()
    assert run.finished_at is not None and "renew_url: 'javascript:alert(1)'" in run.error
    assert actions[-1] == "campaign.failed" and count(app, notifications) == 0
    (line,) = [r for r in caplog.records if r.name == "outbound.scheduling.scheduler"]
    assert line.levelno == logging.ERROR and line.exc_info is None
    assert "campaign r7 fire 2026-11-26T09:00:00+00:00 failed" in line.getMessage()


def test_reload_logs_a_never_firing_stored_schedule_once_and_schedules_the_rest(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    add_customer(app, "C2", BERLIN)
    good = campaigns.CampaignSpec(
        "good", Kind.RENEWAL, "0 10 * * *", "Europe/Berlin", {"expires_within_days": 7}, RENEW
    )
    with app.engine.begin() as conn:
        bad_id = campaigns.create(conn, good, now=app.clock(), actor="test")
        conn.execute(update(campaigns_table).values(schedule="0 10 30 2 *", name="feb30"))
        good_id = campaigns.create(conn, good, now=app.clock(), actor="test")
    scheduler = app.scheduler()
    with caplog.at_level(logging.ERROR, logger="outbound.scheduling.scheduler"):
        scheduler.reload()
        scheduler.reload()
    assert scheduler._aps.get_job(f"campaign-{good_id}") is not None
    assert scheduler._aps.get_job(f"campaign-{bad_id}") is None
    (line,) = caplog.records
    assert "campaign feb30 is not scheduled" in line.getMessage() and line.exc_info is None
    with pytest.raises(ValidationError, match="never fires"):
        validate_schedule("0 10 30 2 *", "Europe/Berlin")
