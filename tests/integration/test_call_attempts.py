"""Call attempts through the real pipeline: legal limits per jurisdiction, retries by outcome."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.cli.reports import explain
from outbound.config import load_settings
from outbound.domain.values import Channel, ConsentAction, Kind, Outcome, Purpose
from outbound.services.people.customers import add_consent
from outbound.services.views.history import notification_report
from outbound.store.tables import deliveries, notifications
from tests.conftest import CONFIG_DIR, FrozenClock
from tests.integration.helpers import ScriptedChannel, add_customer, always, shipping, trigger

AppFactory = Callable[..., bootstrap.App]
MIAMI = "+13055550123"  # a Florida area code: Fla. Stat. § 501.059 covers it
PRICE = {
    "sku": "SKU-1",
    "title": "Kettle",
    "old_price": "50.00",
    "new_price": "40.00",
    "currency": "USD",
    "url": "https://shop.example/p/1",
}


@pytest.fixture
def uncapped(db_url: str, clock: FrozenClock, tmp_path: Path) -> Iterator[AppFactory]:
    """Apps on the shipped config minus the operator caps (its marketing_per_week of 2 would
    stop a third marketing call before any law does)."""
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(CONFIG_DIR / "policies.toml", config)
    text = (CONFIG_DIR / "outbound.toml").read_text(encoding="utf-8")
    (config / "outbound.toml").write_text(text.split("\n[[caps]]", 1)[0], encoding="utf-8")
    apps: list[bootstrap.App] = []

    def build(**overrides: dict[str, object]) -> bootstrap.App:
        settings = load_settings(config, {"database": {"url": db_url}, **overrides}, environ={})
        apps.append(bootstrap.build(settings, clock=clock))
        return apps[-1]

    yield build
    for app in apps:
        app.close()


def _channels(voice: Outcome) -> dict[Channel, ScriptedChannel]:
    answers = {Channel.VOICE: always(voice)}
    return {c: ScriptedChannel(c, answers.get(c, always(Outcome.DELIVERED))) for c in Channel}


def _marketing_customer(app: bootstrap.App, phone: str) -> int:
    cid = add_customer(app, "F1", phone, preference="voice>sms")
    with app.engine.begin() as conn:
        for channel, written in ((Channel.VOICE, True), (Channel.SMS, False)):
            add_consent(
                conn, cid, channel, Purpose.MARKETING, ConsentAction.GRANT, source="web",
                evidence="signup form", actor="test", now=app.clock(), written=written,
            )  # fmt: skip
    return cid


def _ladder(app: bootstrap.App) -> list[tuple[str | None, str | None]]:
    with app.engine.begin() as conn:
        rows = conn.execute(
            select(deliveries.c.channel, deliveries.c.outcome).order_by(deliveries.c.id)
        ).all()
    return [(r.channel, r.outcome) for r in rows]


def _run(app: bootstrap.App, channels: dict[Channel, ScriptedChannel], clock: FrozenClock) -> None:
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    for _ in range(6):
        worker.run_once()
        clock.advance(minutes=31)  # past the voice retry delay, within one afternoon


def test_florida_third_unanswered_marketing_call_in_24h_moves_the_ladder_to_sms(
    uncapped: AppFactory, clock: FrozenClock
) -> None:
    app = uncapped(ladder={"voice_no_answer_retries": 5, "voice_retry_delay_seconds": 1800})
    cid = _marketing_customer(app, MIAMI)
    note = trigger(app, Kind.PRICE_DROP, cid, PRICE).notification_id
    _run(app, _channels(Outcome.NO_ANSWER), clock)
    assert _ladder(app) == [("voice", "no_answer")] * 3 + [("sms", "delivered")]
    with app.engine.begin() as conn:
        text = explain(notification_report(conn, note))
    assert (
        "florida_ftsa, Fla. Stat. § 501.059(8)(a) (Florida Telephone Solicitation Act): "
        "3 of 3 calls in 24 h on this subject; limit reached"
    ) in text
    assert "2 of 3 calls in 24 h" in text  # the count is shown at every rung


def test_a_number_outside_the_covered_area_codes_keeps_its_configured_retries(
    uncapped: AppFactory, clock: FrozenClock
) -> None:
    app = uncapped(ladder={"voice_no_answer_retries": 3, "voice_retry_delay_seconds": 1800})
    cid = _marketing_customer(app, "+12125550123")  # New York: no state limit in policies
    trigger(app, Kind.PRICE_DROP, cid, PRICE)
    _run(app, _channels(Outcome.NO_ANSWER), clock)
    # the TCPA cap of 3 robot calls per 30 days (policies.toml) ends voice here, not a state law
    assert _ladder(app)[:3] == [("voice", "no_answer")] * 3
    assert _ladder(app)[3] == ("sms", "delivered")


def test_a_voicemail_is_retried_once_when_configured_then_the_notification_is_reached(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app(ladder={"voice_voicemail_retries": 1, "voice_retry_delay_seconds": 1800})
    cid = add_customer(app, "V1", "+12125550199", preference="voice>sms")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    _run(app, _channels(Outcome.VOICEMAIL), clock)
    assert _ladder(app) == [("voice", "voicemail"), ("voice", "voicemail")]
    with app.engine.begin() as conn:
        assert conn.execute(select(notifications.c.status)).scalar_one() == "reached"
