"""The delivery worker's promises: the same webhook-id on every retry, no redirect followed, a
short excerpt of each answer, an endpoint disabled (and audited) after a run of failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.services.endpoints import manage
from outbound.store.tables import audit_events, endpoint_messages
from tests.endpoints.conftest import QUICK, add_endpoint, delivering
from tests.endpoints.receiver import Receiver
from tests.integration.helpers import SHANGHAI, add_customer, shipping, trigger

AppFactory = Callable[..., bootstrap.App]


def _one_deferred_event(app: bootstrap.App) -> None:
    cid = add_customer(app, "C1", SHANGHAI, preference="sms")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))  # 23:00 in Shanghai: deferred


def _deliveries(app: bootstrap.App, name: str = "desk") -> list[dict[str, object]]:
    with app.engine.begin() as conn:
        return manage.deliveries(conn, name)


def test_after_answering_500_twice_the_receiver_gets_the_same_webhook_id_again(
    make_app: AppFactory, receiver: Receiver
) -> None:
    app = make_app(endpoints=QUICK)
    add_endpoint(app, receiver, events=["notification.deferred"])
    receiver.answer = lambda wid, n: 500 if n < 2 else 200
    _one_deferred_event(app)
    with delivering(app):
        receiver.wait_for(lambda r: len(r.got) == 3)
        deadline_rows = _wait_status(app, "delivered")
    ids = [g.webhook_id for g in receiver.got]
    assert len(set(ids)) == 1 and ids[0].startswith("msg_")
    assert all(g.verified for g in receiver.got)
    (row,) = deadline_rows
    assert (row["status"], row["attempts"], row["status_code"]) == ("delivered", 3, 200)
    assert row["excerpt"] is not None and len(str(row["excerpt"])) == 200  # of a 520-byte body


def test_a_redirect_is_a_failed_attempt_and_never_followed(
    make_app: AppFactory, receiver: Receiver
) -> None:
    app = make_app(endpoints={**QUICK, "retry_seconds": []})  # one attempt, then given up
    add_endpoint(app, receiver, events=["notification.deferred"])
    receiver.answer = lambda wid, n: 302
    _one_deferred_event(app)
    with delivering(app):
        receiver.wait_for(lambda r: len(r.got) == 1)
        rows = _wait_status(app, "failed")
    assert receiver.redirected_hits == 0
    assert rows[0]["status_code"] == 302
    assert "redirects are not followed" in str(rows[0]["error"])


def _wait_status(app: bootstrap.App, status: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = _deliveries(app)
        if rows and all(r["status"] == status for r in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"not {status}: {_deliveries(app)}")


def test_an_endpoint_failing_n_times_in_a_row_is_disabled_audited_and_listed(
    make_app: AppFactory, receiver: Receiver
) -> None:
    app = make_app(endpoints={**QUICK, "failure_limit": 3, "retry_seconds": [0] * 10})
    add_endpoint(app, receiver, events=["notification.deferred"])
    receiver.answer = lambda wid, n: 503
    _one_deferred_event(app)
    with delivering(app):
        receiver.wait_for(lambda r: len(r.got) >= 3)
        _wait_listed(app, "disabled")
    assert len(receiver.got) == 3  # nothing more once disabled
    with app.engine.begin() as conn:
        (listed,) = manage.listing(conn)
        actions = list(
            conn.execute(
                select(audit_events.c.action, audit_events.c.subject).where(
                    audit_events.c.action.like("endpoint.%")
                )
            )
        )
    assert listed["status"] == "disabled" and listed["queued"] == 1
    assert listed["disabled_reason"] == "3 failed attempts in a row"
    assert ("endpoint.disabled", "endpoint:desk") in [tuple(a) for a in actions]


def _wait_listed(app: bootstrap.App, status: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with app.engine.begin() as conn:
            if manage.listing(conn)[0]["status"] == status:
                return
        time.sleep(0.05)
    raise AssertionError(f"endpoint never {status}")


def test_no_endpoint_means_no_outbox_rows(make_app: AppFactory) -> None:
    app = make_app()
    _one_deferred_event(app)
    with app.engine.begin() as conn:
        assert manage.listing(conn) == []
    assert _count_messages(app) == 0


def _count_messages(app: bootstrap.App) -> int:
    with app.engine.begin() as conn:
        q = select(func.count()).select_from(endpoint_messages)
        return int(conn.execute(q).scalar_one())


def test_after_a_rotation_both_secrets_verify_and_a_replay_resends_the_same_webhook_id(
    make_app: AppFactory, receiver: Receiver
) -> None:
    app = make_app(endpoints=QUICK)
    old = add_endpoint(app, receiver, events=["notification.deferred"])
    with app.engine.begin() as conn:
        new = manage.rotate(conn, "desk", timedelta(hours=1), now=app.clock(), actor="test")
    assert new.startswith("whsec_") and new != old
    receiver.secret = old  # a receiver that has not switched yet
    _one_deferred_event(app)
    with delivering(app):
        receiver.wait_for(lambda r: len(r.got) == 1)
        receiver.secret = new  # switched: the replay verifies with the new secret
        with app.engine.begin() as conn:
            n = manage.replay(conn, "desk", now=app.clock(), actor="test", notification_id=1)
        assert n == 1
        receiver.wait_for(lambda r: len(r.got) == 2)
    first, again = receiver.got
    assert first.verified and again.verified
    assert first.webhook_id == again.webhook_id


def test_phones_are_masked_unless_the_endpoint_opted_in(
    make_app: AppFactory, receiver: Receiver
) -> None:
    app = make_app(endpoints=QUICK)
    add_endpoint(app, receiver, events=["notification.deferred"], include_phone=True)
    _one_deferred_event(app)
    with delivering(app):
        receiver.wait_for(lambda r: len(r.got) == 1)
    assert receiver.got[0].body["data"]["customer"]["phone"] == SHANGHAI


def test_an_endpoint_removed_by_another_process_never_fails_the_state_change(
    make_app: AppFactory, receiver: Receiver
) -> None:
    from outbound.store.tables import endpoints

    app = make_app(endpoints=QUICK)
    add_endpoint(app, receiver, events=["notification.deferred"])
    _one_deferred_event(app)  # the subscriber list is now cached in this process
    with app.engine.begin() as conn:  # as `outbound endpoint remove` in another process
        conn.execute(endpoint_messages.delete())
        conn.execute(endpoints.delete())
    cid = add_customer(app, "C2", SHANGHAI, preference="sms")
    created = trigger(app, Kind.SHIPPING, cid, shipping("A2"))
    assert created.created
    assert _count_messages(app) == 0
