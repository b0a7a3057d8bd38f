"""``campaign preview`` says when the run would finish per channel; the expected times here are
worked out by hand from the throughput, not by the code under test."""

from __future__ import annotations

from datetime import UTC, datetime

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.services.campaigns import preview as campaign_preview
from outbound.services.campaigns import runs as campaigns
from outbound.services.campaigns.forecast import finish_time, forecast
from outbound.services.templates import render
from tests.evidence.conftest import EXPIRES, AppFactory, customer, keyed
from tests.integration.helpers import SHANGHAI

MEMBER = {"preference": "sms", "membership_tier": "gold", "membership_expires_on": EXPIRES}


def _campaign(app: bootstrap.App) -> int:
    spec = campaigns.CampaignSpec(
        "renewals",
        Kind.RENEWAL,
        "0 10 * * *",
        "America/New_York",
        {"expires_within_days": 7},
        {"renew_url": "https://shop.example/r"},
    )
    with app.engine.begin() as conn:
        return campaigns.create(conn, spec, now=app.clock(), actor="test")


def test_preview_forecast_finishes_now_batch_and_the_shanghai_morning_at_the_sms_rate(
    make_app: AppFactory,
) -> None:
    # 0.1 SMS parts per second: 30 one-part texts take 300 s.
    app = keyed(make_app, sms={"throughput_per_second": 0.1})
    for i in range(30):
        customer(app, f"NY{i}", f"+121255501{i:02d}", **MEMBER)
    for i in range(5):
        customer(app, f"SH{i}", SHANGHAI[:-1] + str(i), timezone="Asia/Shanghai", **MEMBER)
    cid = _campaign(app)
    with app.engine.begin() as conn:
        shown = campaign_preview.preview(
            conn,
            cid,
            rules=app.rules,
            now=app.clock(),
            expiry=app.expiry,
            renderer=render.MessageRenderer(app.rules, app.messaging()),
        )
    assert dict(shown.sms_parts) == {"1 part, gsm7": 35}  # the hand calculation assumes it
    (sms,) = forecast(shown.arrivals, shown.send_now, shown.waiting, app.throughputs(), app.clock())
    # now: Thursday 15:00 UTC (10:00 New York, 23:00 Shanghai, after its 21:00 close).
    # 30 parts / 0.1 per s = 300 s -> 15:05:00 UTC. Shanghai opens 08:00 local = 00:00 UTC
    # Friday; 5 parts / 0.1 per s = 50 s -> 00:00:50 UTC.
    assert (sms.now, sms.units, sms.rate) == (30, 35, 0.1)
    assert sms.now_done == datetime(2026, 11, 26, 15, 5, 0, tzinfo=UTC)
    assert sms.finish == datetime(2026, 11, 27, 0, 0, 50, tzinfo=UTC)
    assert sms.deferred == (("08:00 local tomorrow", 5),)
    assert sms.describe(app.clock()) == (
        "sms 30 now at 0.1/s: done 15:05:00 UTC; 5 deferred to 08:00 local tomorrow; "
        "all done 2026-11-27 00:00:50 UTC"
    )


def test_a_deferred_group_waits_for_the_backlog_before_it_when_the_rate_is_slow() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    later = datetime(2026, 11, 26, 15, 1, tzinfo=UTC)  # arrives while 100 s of work remain
    # 100 units at 1/s end 15:01:40; the 10 that arrived at 15:01 start then: 15:01:50.
    assert finish_time({now: 100, later: 10}, 1.0, now) == datetime(
        2026, 11, 26, 15, 1, 50, tzinfo=UTC
    )
    # an idle queue: the group starts when it arrives
    assert finish_time({later: 10}, 1.0, now) == datetime(2026, 11, 26, 15, 1, 10, tzinfo=UTC)
