"""``POST /v1/receipts`` over real HTTP checks owner, state and time (issue 21, item 10): a
source may not mark another source's push, a push never sent, or a push at 1970 or 9999 as
opened; nothing is recorded then."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.store.tables import audit_events, deliveries, push_receipts
from tests.api.conftest import Server
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, add_customer, count, shipping, trigger
from tests.push.test_receipts import _post, receipts_server

__all__ = ["receipts_server"]


def _push(app: bootstrap.App, *, source: str = "test", send: bool = True) -> Any:
    sub = {"kind": "fcm", "endpoint": "fcm-token-1"}
    cid = add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])
    trigger(app, Kind.SHIPPING, cid, shipping("A1"), source=source)
    if send:
        app.dispatcher().run_once()
    with app.engine.begin() as conn:
        return conn.execute(select(deliveries)).one()


def _nothing_recorded(app: bootstrap.App) -> None:
    assert count(app, push_receipts) == 0
    assert count(app, audit_events, audit_events.c.action == "push.receipt") == 0


def test_a_receipt_for_another_sources_push_is_refused_as_unknown(
    receipts_server: Server,
) -> None:
    app = receipts_server.app
    push = _push(app, source="webhook:shop")  # created by source "shop"; "app" reports
    answer = _post(receipts_server, {"delivery_id": push.id, "status": "opened"})
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body", "delivery_id"]
    assert problem["msg"] == "is not a push delivery of ours that this source may report on"
    _nothing_recorded(app)


def test_a_receipt_for_its_own_sources_push_is_recorded(receipts_server: Server) -> None:
    app = receipts_server.app
    push = _push(app, source="webhook:app")
    answer = _post(receipts_server, {"delivery_id": push.id, "status": "opened"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"delivery_id": push.id, "status": "opened", "recorded": True}


def test_a_receipt_for_a_queued_never_sent_push_is_refused(receipts_server: Server) -> None:
    app = receipts_server.app
    push = _push(app, send=False)
    assert push.status == "queued"
    answer = _post(receipts_server, {"delivery_id": push.id, "status": "opened"})
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["msg"] == (
        "was not sent to the push service (it is queued); report a receipt only for a push "
        "the app received"
    )
    _nothing_recorded(app)


def test_a_receipt_dated_before_the_send_or_in_the_future_is_refused(
    receipts_server: Server, clock: FrozenClock
) -> None:
    app = receipts_server.app
    push = _push(app)
    sent = clock().isoformat(timespec="seconds")
    epoch = _post(
        receipts_server,
        {"delivery_id": push.id, "status": "opened", "at": "1970-01-01T00:00:00Z"},
    )
    assert epoch.status_code == 422, epoch.text
    (problem,) = epoch.json()["detail"]
    assert problem["loc"] == ["body", "at"]
    assert problem["msg"] == (
        f"is before the push was sent ({sent}); give when the app saw the push, or leave it "
        "out for now"
    )
    future = _post(
        receipts_server,
        {"delivery_id": push.id, "status": "opened", "at": "9999-12-31T00:00:00Z"},
    )
    assert future.status_code == 422, future.text
    assert future.json()["detail"][0]["msg"].startswith(f"is in the future (now is {sent})")
    _nothing_recorded(app)
    clock.advance(minutes=3)  # the app saw it a minute after the send, reported it later
    seen = push.updated_at + timedelta(minutes=1)
    late = _post(
        receipts_server, {"delivery_id": push.id, "status": "opened", "at": seen.isoformat()}
    )
    assert late.status_code == 202, late.text
