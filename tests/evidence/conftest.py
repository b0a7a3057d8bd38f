"""Shared builders for the evidence tests: customers with a consent, a call and a receipt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from outbound import bootstrap
from outbound.domain.values import Channel, ConsentAction, Kind, Outcome, Purpose, SendResult
from outbound.schemas.customers import validate_record
from outbound.services.campaigns import runs as campaigns
from outbound.services.people.customers import add_consent, upsert_customer
from outbound.services.send import notify
from outbound.store.push import record_push_receipt
from tests.integration.helpers import ScriptedChannel, shipping, trigger

AppFactory = Callable[..., bootstrap.App]
KEY = "k3y-for-tests-0123456789abcdef"
TRANSCRIPT = "this is Annabel Quist at 12 Elm Street"
EXPIRES = "2026-11-30"


def keyed(make_app: AppFactory, **overrides: Any) -> bootstrap.App:
    return make_app(privacy={"erasure_key": KEY}, **overrides)


def customer(app: bootstrap.App, ext: str, phone: str, **extra: Any) -> int:
    raw = {"external_id": ext, "name": "Annabel Quist", "phone": phone, **extra}
    with app.engine.begin() as conn:
        cid, _ = upsert_customer(
            conn,
            validate_record(raw),
            now=app.clock(),
            actor="test",
            source="test",
            erasure_key=app.erasure_key(),
        )
    return cid


def grant(app: bootstrap.App, cid: int, evidence: str, channel: Channel = Channel.SMS) -> None:
    with app.engine.begin() as conn:
        add_consent(
            conn,
            cid,
            channel,
            Purpose.MARKETING,
            ConsentAction.GRANT,
            source="web",
            evidence=evidence,
            actor="test",
            now=app.clock(),
        )


def answered(message: Any) -> SendResult:
    return SendResult(Outcome.ANSWERED, None, {"intent": "confirm", "transcript": TRANSCRIPT})


def called(app: bootstrap.App, cid: int) -> None:
    """One shipping notice, answered by voice with a transcript."""
    trigger(app, Kind.SHIPPING, cid, shipping("V1"))
    voice = ScriptedChannel(Channel.VOICE, answered)
    assert app.dispatcher({Channel.VOICE: voice}).run_once() == 1  # type: ignore[dict-item]


def pushed(app: bootstrap.App, cid: int) -> int:
    """One shipping notice delivered by push, reported opened by the app."""
    with app.engine.begin() as conn:
        req = notify.prepare(
            Kind.SHIPPING,
            cid,
            None,
            shipping("P1"),
            now=app.clock(),
            expiry=app.expiry,
            source="test",
            channels=(Channel.PUSH,),
        )
        (result,) = notify.enqueue(conn, [req], rules=app.rules, now=app.clock(), actor="test")
    push = ScriptedChannel(Channel.PUSH, lambda m: SendResult(Outcome.DELIVERED, "p-1"))
    assert app.dispatcher({Channel.PUSH: push}).run_once() == 1  # type: ignore[dict-item]
    did = push.sent[0].delivery_id
    with app.engine.begin() as conn:
        record_push_receipt(conn, did, "opened", app.clock(), now=app.clock(), actor="app")
    return result.notification_id


def renewal_campaign(app: bootstrap.App, name: str) -> int:
    spec = campaigns.CampaignSpec(
        name,
        Kind.RENEWAL,
        "0 10 * * *",
        "America/New_York",
        {"expires_within_days": 7},
        {"renew_url": "https://shop.example/renew?c={external_id}"},
    )
    with app.engine.begin() as conn:
        cid = campaigns.create(conn, spec, now=app.clock(), actor="test")
    campaigns.run(app.engine, cid, app.send_context())
    return cid
