"""The demo's Twilio step: one SMS through the production Twilio adapter to the Twilio-shaped
loopback Messages API (``outbound.testing.twilio``), then Twilio's signed status callback to
the real API (``POST /v1/providers/twilio/status`` on a loopback port that is also
``[api] public_url``), which settles the delivery as delivered."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from outbound import bootstrap
from outbound.domain.values import Channel, Kind
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.services.send import notify, progress

if TYPE_CHECKING:
    from outbound.testing.twilio import TwilioService

#: a number per time zone; the demo picks one where it is daytime now (10:00-17:00 local)
DAYTIME = [
    ("America/Los_Angeles", "+14155550142", "en-US"),
    ("America/New_York", "+12125550142", "en-US"),
    ("Europe/London", "+447400123142", "en-GB"),  # not 07700 900xxx: invalid since phonenumbers 9
    ("Asia/Kolkata", "+919820000142", "en-IN"),
    ("Asia/Shanghai", "+8613800138142", "zh-CN"),
    ("Australia/Sydney", "+61491570142", "en-AU"),
]
ACCOUNT = "AC" + "d" * 32


def _daytime(now: datetime) -> tuple[str, str, str]:
    for zone, phone, locale in DAYTIME:
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 17:
            return zone, phone, locale
    return DAYTIME[1]


def twilio_step(
    app: bootstrap.App, say: Callable[[str], None], api_server: Callable[..., Any]
) -> None:
    from outbound.testing.postgres import free_port
    from outbound.testing.twilio import TwilioService

    token = secrets.token_hex(16)
    service = TwilioService(ACCOUNT, token)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = app.settings.override(
        {
            "sms": {"adapter": "twilio"},
            "api": {"public_url": url},
            "twilio": {
                "account_sid": ACCOUNT,
                "auth_token": token,
                "from_number": "+15005550006",
                "api_base": service.url,
            },
        },
        origin="demo twilio peer",
    )
    peer = bootstrap.build(settings, clock=app.clock, engine=app.engine, check_schema=False)
    server = api_server(peer, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, name="demo-twilio-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        _send_and_settle(app, peer, service, token, say)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        peer.channels()[Channel.SMS].close()  # the engine is the demo's: it stays open
        service.close()


def _send_and_settle(
    app: bootstrap.App,
    peer: bootstrap.App,
    service: TwilioService,
    token: str,
    say: Callable[[str], None],
) -> None:
    from outbound.testing.twilio import status_callback

    now = app.clock()
    zone, phone, locale = _daytime(now)
    raw = {"external_id": "twilio-demo", "phone": phone, "locale": locale, "timezone": zone}
    raw["preference"] = "sms"
    with app.engine.begin() as conn:
        cid, _ = upsert_customer(conn, validate_record(raw), now=now, actor="demo", source="demo")
        payload = {
            "order_id": "TW1",
            "carrier": "DHL",
            "tracking_no": "T-TW1",
            "eta": "2026-12-24",
        }
        req = notify.prepare(
            Kind.SHIPPING, cid, None, payload, now=now, expiry=app.expiry, source="demo"
        )
        notify.enqueue(conn, [req], rules=app.rules, now=now, actor="demo")
    channels = peer.channels()
    peer.dispatcher(channels).run_once()
    if not service.sent:
        say("SMS via the Twilio-shaped loopback: nothing was sent (policy held it back)")
        return
    sent = service.sent[0]
    status, _ = status_callback(sent, "delivered", token)
    with app.engine.begin() as conn:
        outcome = progress.outcome_by_provider_ref(conn, Channel.SMS, sent.sid) or "not found"
    say(
        f"SMS via the Twilio-shaped loopback Messages API: accepted as {sent.sid[:6]}…; its "
        f"signed status callback (HTTP {status}) settled the delivery: {outcome}"
    )
