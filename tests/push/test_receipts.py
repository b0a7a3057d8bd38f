"""POST /v1/receipts over real HTTP, and escalation of pushes nobody opened."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.api.signing import new_secret
from outbound.domain.values import Kind
from outbound.services.intake.sources import add_source
from outbound.store.tables import audit_events, deliveries, push_receipts
from tests.api.conftest import Server, start_server
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, add_customer, count, shipping, trigger

AppFactory = Callable[..., bootstrap.App]


@pytest.fixture
def receipts_server(push_app: AppFactory) -> Iterator[Server]:
    app = push_app(escalate_unopened_minutes_shipping=30.0)
    with app.engine.begin() as conn:
        secret = new_secret()
        add_source(
            conn, "app", ["push.receipt"], 1000, secret=secret, now=app.clock(), actor="test"
        )
    server = start_server(app, secret)
    yield server
    server.uvicorn.should_exit = True
    time.sleep(0.05)


def _post(server: Server, receipt: dict[str, Any], **kw: Any) -> httpx.Response:
    body = json.dumps(receipt).encode()
    headers = server.signed(body, **kw)
    return httpx.post(f"{server.url}/v1/receipts", content=body, headers=headers, timeout=30)


def _pushed(app: bootstrap.App) -> Any:
    sub = {"kind": "fcm", "endpoint": "fcm-token-1"}
    cid = add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    app.dispatcher().run_once()
    with app.engine.begin() as conn:
        return conn.execute(select(deliveries)).one()


def _channels(app: bootstrap.App) -> list[tuple[str, str | None]]:
    with app.engine.begin() as conn:
        rows = conn.execute(select(deliveries).order_by(deliveries.c.id)).all()
    return [(r.channel, r.outcome) for r in rows]


def test_an_opened_receipt_is_recorded_and_the_push_is_not_escalated(
    receipts_server: Server, clock: FrozenClock
) -> None:
    app = receipts_server.app
    push = _pushed(app)
    answer = _post(receipts_server, {"delivery_id": push.id, "status": "opened"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"delivery_id": push.id, "status": "opened", "recorded": True}
    with app.engine.begin() as conn:
        row = conn.execute(select(push_receipts)).one()
    assert row.opened_at == clock() and row.delivered_at == clock()
    clock.advance(minutes=31)
    assert app.escalation().run_once() == []
    assert count(app, audit_events, audit_events.c.action == "push.receipt") == 1


def test_a_push_not_opened_within_the_kinds_delay_escalates_to_sms_once(
    receipts_server: Server, clock: FrozenClock
) -> None:
    app = receipts_server.app
    push = _pushed(app)
    delivered = _post(receipts_server, {"provider_ref": push.provider_ref, "status": "delivered"})
    assert delivered.status_code == 202 and delivered.json()["delivery_id"] == push.id
    clock.advance(minutes=29)
    assert app.escalation().run_once() == []
    clock.advance(minutes=2)
    assert len(app.escalation().run_once()) == 1
    assert app.escalation().run_once() == []  # escalated once, not at every run
    app.dispatcher().run_once()
    assert _channels(app) == [("push", "delivered"), ("sms", "delivered")]
    assert "escalate" in app.scheduler().housekeeping  # the scheduler leader runs it periodically


def test_a_kind_without_an_escalation_delay_is_never_escalated(
    push_app: AppFactory, clock: FrozenClock
) -> None:
    app = push_app(escalate_unopened_minutes_renewal=30.0)
    _pushed(app)  # a shipping notice: no delay configured for shipping here
    clock.advance(hours=2)
    assert app.escalation().run_once() == []
    assert "escalate" in app.scheduler().housekeeping


def test_receipts_need_a_signature_the_permission_and_a_known_push_delivery(
    receipts_server: Server,
) -> None:
    app = receipts_server.app
    push = _pushed(app)
    unsigned = httpx.post(f"{receipts_server.url}/v1/receipts", json={"delivery_id": push.id})
    assert unsigned.status_code == 401
    unknown = _post(receipts_server, {"delivery_id": push.id + 99, "status": "opened"})
    assert unknown.status_code == 422 and "not a push delivery" in unknown.text
    both = _post(receipts_server, {"delivery_id": push.id, "provider_ref": "x", "status": "opened"})
    assert both.status_code == 422 and "exactly one" in both.text
    with app.engine.begin() as conn:
        other = new_secret()
        add_source(
            conn, "shop", ["shipping.dispatched"], 10, secret=other, now=app.clock(), actor="t"
        )
    refused = _post(receipts_server, {"delivery_id": push.id, "status": "opened"}, secret=other)
    assert refused.status_code == 401 and "push.receipt" in refused.text


def test_a_repeated_receipt_returns_the_original_answer(receipts_server: Server) -> None:
    push = _pushed(receipts_server.app)
    wid = f"msg_{uuid.uuid4().hex}"
    first = _post(receipts_server, {"delivery_id": push.id, "status": "opened"}, webhook_id=wid)
    again = _post(receipts_server, {"delivery_id": push.id, "status": "opened"}, webhook_id=wid)
    assert first.status_code == 202 and again.status_code == 202
    assert again.json() == {**first.json(), "duplicate": True}
    assert count(receipts_server.app, audit_events, audit_events.c.action == "push.receipt") == 1
