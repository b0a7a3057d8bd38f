"""``campaign report``: the funnel, deferrals and local-hour sends match what the database
holds for a campaign whose story is known (two delivered, one failed then answered, one
deferred by the night in Shanghai, one opt-out)."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.domain.values import Channel, ConsentAction, Outcome, SendResult
from outbound.services.people.customers import add_consent
from outbound.services.views.charts import report_svg
from outbound.services.views.history import campaign_funnel
from outbound.store.tables import deliveries
from tests.conftest import CONFIG_DIR
from tests.evidence.conftest import EXPIRES, AppFactory, customer, keyed, renewal_campaign
from tests.integration.helpers import SHANGHAI, ScriptedChannel
from tests.integration.test_cli import OUTBOUND

MEMBER = {"preference": "sms>voice", "membership_tier": "gold", "membership_expires_on": EXPIRES}


def _story(app: bootstrap.App) -> dict[str, int]:
    ids = {
        "ok": customer(app, "C1", "+12125550121", **MEMBER),
        "fails": customer(app, "C2", "+12125550122", **MEMBER),
        "ok2": customer(app, "C3", "+12125550123", **MEMBER),
        "night": customer(app, "C4", SHANGHAI, timezone="Asia/Shanghai", **MEMBER),
    }
    renewal_campaign(app, "renewals")

    def sms_answer(m: Message) -> SendResult:
        failed = m.customer_id == ids["fails"]
        return SendResult(Outcome.FAILED if failed else Outcome.DELIVERED, f"s-{m.delivery_id}")

    sms = ScriptedChannel(Channel.SMS, sms_answer)
    voice = ScriptedChannel(Channel.VOICE, lambda m: SendResult(Outcome.ANSWERED, None))
    worker = app.dispatcher({Channel.SMS: sms, Channel.VOICE: voice})  # type: ignore[dict-item]
    assert worker.run_once() == 3  # C4 waits for the morning in Shanghai
    assert worker.run_once() == 1  # C2's voice rung
    with app.engine.begin() as conn:
        add_consent(
            conn,
            ids["ok"],
            Channel.SMS,
            None,
            ConsentAction.REVOKE,
            source="sms-mo",
            evidence="STOP",
            actor="customer",
            now=app.clock(),
        )
    return ids


def test_report_counts_each_stage_per_channel_as_the_story_happened(
    make_app: AppFactory,
) -> None:
    app = keyed(make_app)
    _story(app)
    with app.engine.begin() as conn:
        report = campaign_funnel(conn, "renewals", now=app.clock())
        night_due = conn.execute(
            select(deliveries.c.due_at).where(deliveries.c.status == "queued")
        ).scalar_one()
    assert report["selected"] == 4 and report["notifications"] == 4
    assert report["funnel"] == [
        {
            "channel": "sms",
            "queued": 4,
            "sent": 3,
            "delivered": 2,
            "answered": 0,
            "opened": 0,
            "opted_out": 1,
        },
        {
            "channel": "voice",
            "queued": 1,
            "sent": 1,
            "delivered": 0,
            "answered": 1,
            "opened": 0,
            "opted_out": 0,
        },
    ]
    (deferred,) = report["deferrals"]
    assert (deferred["channel"], deferred["count"]) == ("sms", 1)
    assert deferred["resumes"] == night_due and "quiet" in deferred["reason"]
    # 15:00 UTC is 10:00 in New York, where every send of the story happened
    hours = report["sends_by_local_hour"]
    assert hours["sms"][10] == 3 and sum(hours["sms"]) == 3
    assert hours["voice"][10] == 1 and sum(hours["voice"]) == 1


def test_chart_is_one_svg_with_the_funnel_and_the_hours(make_app: AppFactory) -> None:
    app = keyed(make_app)
    _story(app)
    with app.engine.begin() as conn:
        svg = report_svg(campaign_funnel(conn, "renewals", now=app.clock()))
    root = ET.fromstring(svg)
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("funnel per channel" in t for t in titles)
    assert any("local time" in t for t in titles)
    assert "<script" not in svg  # static: nothing fetched when it is opened


def test_report_cli_prints_the_funnel_and_writes_the_chart(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("sqlite"):
        return  # the CLI path is the same on both engines; the numbers are tested above
    app = keyed(make_app)
    _story(app)
    env = {**os.environ, "OUTBOUND_DATABASE_URL": db_url}
    args = [OUTBOUND, "--config-dir", str(CONFIG_DIR), "campaign", "report", "renewals"]
    proc = subprocess.run(
        [*args, "--chart", str(tmp_path / "r.svg"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [row["sent"] for row in data["funnel"]] == [3, 1]
    assert ET.parse(tmp_path / "r.svg").getroot().tag.endswith("svg")
    text = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120).stdout
    assert "funnel" in text and "sends per local hour" in text
