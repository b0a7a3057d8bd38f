"""Campaign preview counts SMS parts with the same brand and footer rule dispatch sends with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from outbound import bootstrap
from outbound.channels.sms_text import plan
from outbound.domain.values import Channel, Kind, Outcome
from outbound.policy.messaging import MessagingRules
from outbound.services.campaigns import preview as campaign_preview
from outbound.services.campaigns import runs as campaigns
from outbound.services.templates import render
from tests.integration.helpers import NY, ScriptedChannel, add_customer, always

AppFactory = Callable[..., bootstrap.App]
EXPIRES = "2026-11-30"


def _renew_url(length: int) -> str:
    """A renewal URL that makes the SMS body (without footer) exactly ``length`` characters."""
    base = "https://shop.example/renew?c={external_id}&p="
    payload = {
        "tier": "gold",
        "expires_on": EXPIRES,
        "renew_url": base.replace("{external_id}", "C1"),
    }
    body = render.render_message(Kind.RENEWAL, Channel.SMS, "en-US", payload, footer=False)
    return base + "x" * (length - len(body))


def _without_us_footer(messaging: MessagingRules) -> MessagingRules:
    """The shipped rules, except that the US no longer asks for an SMS footer."""
    by_code = dict(messaging.by_code)
    by_code["US"] = replace(by_code["US"], footer_channels=frozenset())
    return MessagingRules(by_code)


@pytest.mark.parametrize("footer", [True, False], ids=["us-footer", "no-footer"])
def test_preview_sms_part_count_is_what_dispatch_sends_at_the_160_char_boundary(
    make_app: AppFactory, footer: bool
) -> None:
    app = make_app()
    messaging = app.messaging() if footer else _without_us_footer(app.messaging())
    add_customer(
        app, "C1", NY, preference="sms", membership_tier="gold", membership_expires_on=EXPIRES
    )
    spec = campaigns.CampaignSpec(
        "boundary",
        Kind.RENEWAL,
        "0 10 * * *",
        "America/New_York",
        {"expires_within_days": 7},
        {"renew_url": _renew_url(150)},  # 150 chars; the footer takes it past 160
    )
    with app.engine.begin() as conn:
        cid = campaigns.create(conn, spec, now=app.clock(), actor="test")
        shown = campaign_preview.preview(
            conn,
            cid,
            rules=app.rules,
            now=app.clock(),
            expiry=app.expiry,
            renderer=render.MessageRenderer(app.rules, messaging),
        )
    campaigns.run(app.engine, cid, app.send_context())
    sms = ScriptedChannel(Channel.SMS, always(Outcome.DELIVERED))
    worker = app.dispatcher({Channel.SMS: sms})  # type: ignore[dict-item]
    worker.renderer = render.MessageRenderer(app.rules, messaging, templates=app.templates())
    assert worker.run_once() == 1
    (sent,) = sms.sent
    parts = plan(sent.text)
    assert len(parts.parts) == (2 if footer else 1)  # the boundary is what is being tested
    label = f"{len(parts.parts)} part{'s' if len(parts.parts) > 1 else ''}, {parts.encoding}"
    assert dict(shown.sms_parts) == {label: 1}
    assert shown.sms_longest == len(sent.text)
