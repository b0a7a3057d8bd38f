"""Status webhooks out, on SQLite and PostgreSQL: the services write the events in the
transaction of the state change, the delivery worker sends them to a loopback receiver that
verifies each with the reference ``standardwebhooks`` library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from outbound import bootstrap
from outbound.domain.masking import mask_phone
from outbound.domain.values import (
    Accepted,
    Channel,
    ConsentAction,
    Kind,
    Outcome,
    SendResult,
)
from outbound.services.people.customers import add_consent
from outbound.services.people.inbound import Program, handle_mo
from outbound.services.send.outcomes import Recorder
from outbound.store.outbox import Claimed
from tests.endpoints.conftest import QUICK, add_endpoint, delivering
from tests.endpoints.receiver import Receiver
from tests.integration.helpers import (
    BERLIN,
    NY,
    SHANGHAI,
    ScriptedChannel,
    add_customer,
    shipping,
    trigger,
)

AppFactory = Callable[..., bootstrap.App]

EVERY_TYPE = {
    "notification.sent",
    "notification.delivered",
    "notification.failed",
    "notification.suppressed",
    "notification.deferred",
    "customer.opted_out",
    "call.transferred",
    "customer.replied",
}


def _mo(app: bootstrap.App, phone: str, text: str) -> None:
    with app.engine.begin() as conn:
        handle_mo(
            conn,
            phone,
            text,
            now=app.clock(),
            rules=app.rules,
            messaging=app.messaging(),
            program=Program(),
        )


def _transferred_call(app: bootstrap.App, cid: int, order: str) -> None:
    """A robot call that transferred the customer to an agent, recorded as the dialer does."""
    note = trigger(app, Kind.SHIPPING, cid, shipping(order))
    with app.engine.begin() as conn:
        claimed = Claimed(
            0, note.notification_id, cid, Kind.SHIPPING, Channel.VOICE, shipping(order), 0, 1, ()
        )
        recorder = Recorder(conn, app.clock(), app.ladder, "dialer")
        recorder.result(claimed, SendResult(Outcome.ANSWERED, "call-1", {"transferred": True}))
        recorder.flush()


def _by_type(receiver: Receiver) -> dict[str, dict[str, Any]]:
    return {g.body["type"]: g.body["data"] for g in receiver.got if g.verified}


def test_a_verifying_receiver_gets_every_event_type_with_the_shops_own_ids(
    make_app: AppFactory, receiver: Receiver
) -> None:
    app = make_app(endpoints=QUICK)
    add_endpoint(app, receiver)
    sent, delivered, failed = (
        add_customer(app, f"C{i}", phone, preference="sms")
        for i, phone in enumerate((NY, BERLIN, "+12125550199"), 1)
    )
    stopped = add_customer(app, "C4", "+12125550177", preference="sms")
    night = add_customer(app, "C5", SHANGHAI, preference="sms")
    for cid, order in ((sent, "A1"), (delivered, "A2"), (failed, "A3")):
        trigger(app, Kind.SHIPPING, cid, shipping(order))
    with app.engine.begin() as conn:
        add_consent(
            conn,
            stopped,
            None,
            None,
            ConsentAction.REVOKE,
            source="console",
            evidence="asked by phone",
            actor="ops",
            now=app.clock(),
        )
    trigger(app, Kind.SHIPPING, stopped, shipping("A4"))  # suppressed: no channel left
    trigger(app, Kind.SHIPPING, night, shipping("A5"))  # deferred: 23:00 in Shanghai
    answers = {
        sent: Accepted(("sms-1",)),
        delivered: SendResult(Outcome.DELIVERED, "sms-2"),
        failed: SendResult(Outcome.FAILED, "sms-3"),
    }
    channels = {c: ScriptedChannel(c, lambda m: answers[m.customer_id]) for c in Channel}
    app.dispatcher(channels).run_once()
    _transferred_call(app, delivered, "A6")
    _mo(app, BERLIN, "where is my parcel?")
    _mo(app, NY, "STOP")
    with delivering(app):
        receiver.wait_for(lambda r: r.types() >= EVERY_TYPE)
    assert all(g.verified for g in receiver.got)
    data = _by_type(receiver)
    assert data["notification.sent"]["order_id"] == "A1"
    assert data["notification.sent"]["customer"]["external_id"] == "C1"
    assert data["notification.sent"]["customer"]["phone"] == mask_phone(NY) != NY  # masked
    assert data["notification.delivered"]["customer"]["external_id"] == "C2"
    assert data["notification.failed"]["outcome"] == "failed"
    assert data["notification.suppressed"]["reason_code"] == "no_channel"
    assert data["notification.suppressed"]["order_id"] == "A4"
    assert data["notification.deferred"]["resume_at"].startswith("2026-11-2")
    assert data["call.transferred"]["order_id"] == "A6"
    assert data["customer.replied"]["text"] == "where is my parcel?"
    stops = [g.body["data"] for g in receiver.got if g.body["type"] == "customer.opted_out"]
    assert {(s["customer"]["external_id"], s["source"]) for s in stops} == {
        ("C4", "console"),
        ("C1", "sms-mo"),
    }
