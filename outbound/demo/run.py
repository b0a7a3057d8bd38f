"""``outbound demo``: a fresh SQLite file, ~50 customers in 9 countries, all three kinds.

Everything goes through the production path: customers through the import validator, shipping
and price drops through ``services.notify`` (what the webhooks call), renewals through a campaign
fired by the leader-elected scheduler, and in-process dispatch workers through the policy,
caps and fallback ladder to the providers of ``outbound.demo.peers``: the loopback SMSC over
SMPP and the loopback Web Push / FCM services when they can run here, else the embedded log
channel; voice by the real dialer process calling loopback callees (``outbound.demo.calls``).
Some SMS are undeliverable (UNDELIV receipts or scripted), some push subscriptions are gone
(410 / UNREGISTERED) and a call goes unanswered, so the fallback ladder can be watched.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from outbound import bootstrap
from outbound.demo.calls import live_calls
from outbound.demo.peers import Providers, await_receipts, open_providers, scripted_outcome
from outbound.demo.webhooks import deliver_status, status_receiver
from outbound.domain.values import Channel, ConsentAction, Kind, Purpose
from outbound.schemas.customers import validate_record
from outbound.services.campaigns.runs import CampaignSpec
from outbound.services.campaigns.runs import create as create_campaign
from outbound.services.people.customers import add_consent, add_suppression, upsert_customer
from outbound.services.send import notify, progress

__all__ = ["DemoResult", "demo_customers", "run_demo", "scripted_outcome", "summarize"]

Subscription = Callable[[int], dict[str, Any] | None]
#: builds the API server of an app on host:port (``outbound.mains.serve.api_server``)
ApiServer = Callable[[bootstrap.App, str, int], Any]

#: (country, IANA zone or "" to derive it from the number, locale, how many)
PLACES = [
    ("US", "America/New_York", "en-US", 8),
    ("US", "", "en-US", 4),
    ("US", "America/Los_Angeles", "en-US", 4),
    ("GB", "Europe/London", "en-GB", 5),
    ("DE", "", "de-DE", 5),
    ("CN", "Asia/Shanghai", "zh-CN", 6),
    ("IN", "Asia/Kolkata", "en-IN", 5),
    ("KR", "", "ko-KR", 5),
    ("BR", "America/Sao_Paulo", "pt-BR", 4),
    ("AU", "Australia/Sydney", "en-AU", 4),
]
PREFERENCES = ["push>sms>voice", "sms>voice", "voice>sms", "sms>push", "push>voice", ""]
SKUS = ["SKU-HEADPHONES", "SKU-KETTLE", "SKU-BACKPACK"]


def _phone(rng: random.Random, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    national = str(example.national_number)
    for _ in range(200):
        digits = national[: max(len(national) - 4, 3)] + "".join(
            rng.choice("0123456789") for _ in range(len(national) - max(len(national) - 4, 3))
        )
        number = phonenumbers.parse(f"+{example.country_code}{digits}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def demo_customers(
    today: datetime, seed: int = 7, subscription: Subscription | None = None
) -> list[dict[str, Any]]:
    """The demo's customers; ``subscription(n)`` gives customer n's push subscription, if any
    (a loopback Web Push or FCM one), else they get a made-up FCM token."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for country, zone, locale, count in PLACES:
        for _ in range(count):
            n = len(rows) + 1
            pref = PREFERENCES[n % len(PREFERENCES)]
            opt = [f"{c}:marketing" for c in ("push", "sms") if rng.random() < 0.5]
            if n % 11 == 0:
                opt.append("voice:marketing:written")
            rows.append(
                {
                    "external_id": f"C{1000 + n}",
                    "name": f"Customer {n}",
                    "phone": _phone(rng, country),
                    "timezone": zone,
                    "locale": locale,
                    "preference": pref,
                    "push_token": f"fcm-token-{n:04d}" if "push" in pref or n % 3 == 0 else "",
                    "membership_tier": rng.choice(["silver", "gold", "platinum"])
                    if n % 5 != 0
                    else "",
                    "membership_expires_on": (today + timedelta(days=rng.randint(1, 20)))
                    .date()
                    .isoformat()
                    if n % 5 != 0
                    else "",
                    "wishlist": ";".join(rng.sample(SKUS, rng.randint(0, 2))),
                    "opt_in": ";".join(opt),
                }
            )
            sub = subscription(n) if subscription and rows[-1]["push_token"] else None
            if sub is not None:
                rows[-1]["push_token"] = ""
                rows[-1]["push_subscriptions"] = [sub]
    return rows


@dataclass
class DemoResult:
    customers: int
    notifications: int
    summary: dict[str, Any]
    why_example: int | None
    audit_events: int
    seconds: float
    providers: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # the live calls, one row each


def _seed(
    app: bootstrap.App, now: datetime, say: Callable[[str], None], providers: Providers
) -> list[int]:
    ids = []
    phones: list[tuple[int, str]] = []
    with app.engine.begin() as conn:
        for raw in demo_customers(now, subscription=providers.subscription):
            record = validate_record(raw)
            cid, _ = upsert_customer(conn, record, now=now, actor="demo", source="demo")
            ids.append(cid)
            phones.append((cid, raw["phone"]))
        if providers.sms is None:
            add_consent(
                conn,
                ids[6],
                Channel.SMS,
                None,
                ConsentAction.REVOKE,
                source="sms",
                evidence="replied STOP",
                actor="demo",
                now=now,
            )
        add_consent(
            conn,
            ids[13],
            None,
            Purpose.MARKETING,
            ConsentAction.REVOKE,
            source="web",
            evidence="preference centre",
            actor="demo",
            now=now,
        )
        add_suppression(conn, ids[20], "internal do-not-call request", actor="demo", now=now)
    say(
        f"imported {len(ids)} customers in {len({p[0] for p in PLACES})} countries "
        "(mixed preferences, consents, one revoked SMS, one on the do-not-call list)"
    )
    if providers.sms is not None:
        providers.script(phones)
        _reply_stop(app, providers, ids[6], phones[6][1], say)
    return ids


def _reply_stop(
    app: bootstrap.App, providers: Providers, cid: int, phone: str, say: Callable[[str], None]
) -> None:
    """Customer ``cid`` texts STOP to the SMSC: an MO over SMPP, through the consent ledger."""
    providers.channels()  # bound: the SMSC delivers MO only to a bound session
    providers.sms.command(cmd="mo", **{"from": phone.lstrip("+"), "text": "STOP"})
    deadline = time.monotonic() + 10
    revoked = None
    while revoked is None and time.monotonic() < deadline:
        with app.engine.begin() as conn:
            revoked = cid in progress.revoked(conn, Channel.SMS) or None
        time.sleep(0.05)
    outcome = "SMS consent revoked" if revoked else "not handled within 10 s"
    say(f"customer #{cid} texted STOP to the SMSC (SMPP deliver_sm): {outcome}, confirmation sent")


def _trigger(app: bootstrap.App, ids: list[int], now: datetime, say: Callable[[str], None]) -> None:
    """Shipping and price-drop events through the webhooks' send path (``notify``)."""
    rng = random.Random(11)
    send = replace(app.send_context(), clock=lambda: now)
    paths: dict[str, Any] = {"source": "webhook:demo", "actor": "demo"}
    events = [
        (
            f"#{cid}",
            {
                "order_id": f"A{5000 + cid}",
                "carrier": rng.choice(["DHL", "UPS", "SF Express"]),
                "tracking_no": f"TRK{cid:06d}",
                "eta": (now + timedelta(days=2)).date().isoformat(),
            },
        )
        for cid in ids[::2]
    ]
    with app.engine.begin() as conn:

        def ship(ref: str, payload: dict[str, Any]) -> list[notify.Enqueued]:
            return notify.notify(
                conn, send, kind=Kind.SHIPPING, customer_ref=ref, payload=payload, **paths
            )

        shipped = [done for ref, payload in events for done in ship(ref, payload)]
        dropped = notify.price_drop_fanout(
            conn,
            send,
            {
                "sku": "SKU-HEADPHONES",
                "title": "Noise-cancelling headphones",
                "old_price": "199.00",
                "new_price": "149.00",
                "currency": "USD",
                "url": "https://shop.example/p/headphones",
            },
            **paths,
        )
        again = [done for ref, payload in events[:3] for done in ship(ref, payload)]
    say(
        f"shipping.dispatched x{len(shipped)}, price.dropped(SKU-HEADPHONES) -> {len(dropped)} wishlists; "
        f"{len(again)} repeated events returned the existing notifications: "
        f"{sorted(e.notification_id for e in again)}"
    )


def _campaign(app: bootstrap.App, now: datetime, say: Callable[[str], None]) -> None:
    spec = CampaignSpec(
        "renewals-14d",
        Kind.RENEWAL,
        "0 10 * * *",
        "Europe/Berlin",
        {"expires_within_days": 14},
        {"renew_url": "https://shop.example/renew?c={external_id}"},
    )
    with app.engine.begin() as conn:
        cid = create_campaign(conn, spec, now=now, actor="demo")
    scheduler = app.scheduler()
    scheduler.start()
    deadline = time.monotonic() + 20
    while not scheduler.leader and time.monotonic() < deadline:
        time.sleep(0.05)
    job = scheduler.fire_now(cid)
    while scheduler._aps.get_job(job.id) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop()
    with app.engine.begin() as conn:
        count = progress.notification_count(conn, cid)
    say(
        f"campaign renewals-14d fired by the scheduler (leader lock held): {count} renewal reminders queued"
    )


def _dispatch(
    app: bootstrap.App, providers: Providers, say: Callable[[str], None], live: bool
) -> None:
    """Workers until idle; with an SMSC, again after the receipts (fallbacks) came in. With
    ``live`` calls the dialer process places the voice calls, not these workers."""
    channels = {c: p for c, p in providers.channels().items() if not live or c != Channel.VOICE}
    stop = threading.Event()
    deadline = time.monotonic() + 40
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        workers = [
            threading.Thread(
                target=app.dispatcher(channels).run,
                args=(stop, 0.1, True),
                name=f"demo-worker-{i}",
            )
            for i in range(2)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=max(deadline - time.monotonic(), 1))
        if not providers.receipts or not await_receipts(app, deadline):
            break
    stop.set()
    how = (
        "sent over SMPP, outcomes by delivery receipt"
        if providers.receipts
        else "SMS outcomes scripted (some bounce)"
    )
    say(
        f"dispatch workers drained everything due now in {rounds} round(s) (policy re-checked at "
        f"claim, caps reserved); {how}; "
        + ("calls by the dialer process (below)" if live else "calls scripted (some unanswered)")
    )


def summarize(app: bootstrap.App) -> tuple[dict[str, Any], int | None]:
    with app.engine.begin() as conn:
        return progress.summary(conn, datetime.now(UTC))


def run_demo(
    app: bootstrap.App,
    say: Callable[[str], None],
    *,
    use_peers: bool = True,
    api_server: ApiServer | None = None,
) -> DemoResult:
    """The demo on ``app``; real peers on loopback when available (``use_peers``), all stopped
    before this returns. ``api_server`` (the process mains' factory) serves the provider
    callbacks of the Twilio step."""
    started = time.monotonic()
    now = app.clock()
    calls: list[dict[str, Any]] = []
    voice = "voice: log channel with scripted outcomes"
    with open_providers(app, use_peers) as providers, contextlib.ExitStack() as stack:
        live = live_calls(app, say, stack) if use_peers else None
        receiver = stack.enter_context(status_receiver(app))
        say(providers.description)
        ids = _seed(app, now, say, providers)
        if live is not None:
            live.seed(now)
            live.start_dialer()
        _trigger(app, ids, now, say)
        if use_peers and api_server is not None:
            from outbound.demo.shop import shopify_step

            shopify_step(app, say, api_server)
        _campaign(app, app.clock(), say)
        _dispatch(app, providers, say, live is not None)
        if live is not None:
            if not live.await_calls(time.monotonic() + 90):
                say("the dialer did not finish the due calls within 90 s")
            live.stop()
            calls = live.table()
            voice = live.description
        deliver_status(app, receiver, say)
        if use_peers and api_server is not None:
            from outbound.demo.twilio import twilio_step

            twilio_step(app, say, api_server)
    summary, example = summarize(app)
    with app.engine.begin() as conn:
        checked, total = progress.last_word(conn)
    if not checked.ok:
        raise RuntimeError(f"audit chain broken at {checked.broken_at}: {checked.problem}")
    return DemoResult(
        len(ids),
        total,
        summary,
        example,
        checked.checked,
        time.monotonic() - started,
        f"{providers.description}; {voice}",
        calls,
    )
