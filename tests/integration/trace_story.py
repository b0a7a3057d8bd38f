"""A short history whose every decision a reader can ask about: the golden ``why`` texts.

``golden/why.txt`` and ``golden/readings.json`` were written by
``python -m tests.integration.trace_story`` run against the code from *before* decisions were
stored as codes and values, so comparing against them proves that what ``outbound why``, the
API and ``customer show`` print has not changed. The decisions in ``readings.json`` are also
what old rows look like in the database (the prose form).
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outbound import bootstrap
from outbound.cli.reports import explain, render_customer
from outbound.config import load_settings
from outbound.domain.values import Channel, ConsentAction, Kind, Outcome
from outbound.services.people.customers import add_consent
from outbound.services.views.history import customer_report, notification_report
from outbound.store.db import make_engine, upgrade
from tests.integration.helpers import (
    NY,
    SHANGHAI,
    ScriptedChannel,
    add_customer,
    always,
    shipping,
    trigger,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
START = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # as tests/conftest.py's frozen clock
PRICE_DROP = {
    "sku": "S",
    "title": "Kettle",
    "old_price": "9",
    "new_price": "5",
    "currency": "USD",
    "url": "https://shop.example/s",
}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current


def play(app: bootstrap.App, clock: Any) -> dict[str, int]:
    """Notifications with every kind of decision, dispatched; their ids by story line."""
    ids: dict[str, int] = {}
    night = add_customer(app, "C1", SHANGHAI, timezone="Asia/Shanghai", preference="sms")
    ids["deferred_then_sent"] = trigger(app, Kind.SHIPPING, night, shipping("A1")).notification_id
    falls = add_customer(app, "C2", NY, preference="sms>voice")
    ids["sms_failed_voice_answered"] = trigger(
        app, Kind.SHIPPING, falls, shipping("A2")
    ).notification_id
    no_opt_in = add_customer(app, "C3", NY, preference="sms")
    ids["suppressed"] = trigger(app, Kind.PRICE_DROP, no_opt_in, PRICE_DROP).notification_id
    revoked = add_customer(app, "C4", NY, preference="sms", opt_in="sms:marketing")
    ids["revoked_at_claim"] = trigger(app, Kind.PRICE_DROP, revoked, PRICE_DROP).notification_id
    with app.engine.begin() as conn:
        add_consent(
            conn,
            revoked,
            None,
            None,
            ConsentAction.REVOKE,
            source="sms",
            evidence="STOP",
            actor="test",
            now=clock(),
        )
    delivered, failed = always(Outcome.DELIVERED), always(Outcome.FAILED)
    channels = {
        Channel.PUSH: ScriptedChannel(Channel.PUSH, delivered),
        Channel.SMS: ScriptedChannel(
            Channel.SMS, lambda m: failed(m) if m.customer_id == falls else delivered(m)
        ),
        Channel.VOICE: ScriptedChannel(Channel.VOICE, always(Outcome.ANSWERED)),
    }
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    worker.run_once()
    worker.run_once()
    clock.current = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    worker.run_once()
    return ids


def readings(app: bootstrap.App, ids: dict[str, int]) -> tuple[str, dict[str, Any]]:
    """What people read: the ``why`` text of each story line and ``customer show`` of each
    customer; and, as JSON, every notification's decisions and every customer's audit events
    (as the API and ``customer show --json`` give them)."""
    texts: list[str] = []
    data: dict[str, Any] = {"decisions": {}, "events": {}}
    with app.engine.begin() as conn:
        for name, nid in ids.items():
            report = notification_report(conn, nid)
            texts.append(f"=== why {name}\n{explain(report)}\n")
            data["decisions"][name] = report["decisions"]
        for cid in range(1, 5):
            customer = customer_report(conn, cid)
            texts.append(f"=== customer show C{cid}\n{render_customer(customer)}\n")
            data["events"][f"C{cid}"] = json.loads(json.dumps(customer["events"], default=str))
    return "\n".join(texts), data


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'story.db'}"
        upgrade(make_engine(url))
        clock = Clock(START)
        settings = load_settings(CONFIG_DIR, {"database": {"url": url}}, environ={})
        app = bootstrap.build(settings, clock=clock)
        text, data = readings(app, play(app, clock))
        app.engine.dispose()
    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / "why.txt").write_text(text, encoding="utf-8")
    (GOLDEN / "readings.json").write_text(
        json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {GOLDEN}/why.txt and readings.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
