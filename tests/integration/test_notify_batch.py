"""A batch of events (the API's group commit) is answered as one event after the other would
be: one read, one write per source, the first event of a notification creates it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from outbound import bootstrap
from outbound.domain.errors import ValidationError
from outbound.domain.values import Kind
from outbound.services.send import notify
from outbound.store.tables import audit_events, notifications
from tests.integration.helpers import NY, add_customer, shipping


def test_a_batch_over_two_sources_creates_each_notification_once_and_fails_only_bad_events(
    make_app: Callable[..., bootstrap.App],
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms")
    bad = {**shipping("A9"), "eta": "not a date"}
    batch = [
        (Kind.SHIPPING, "C1", shipping("A1"), "shop-a"),
        (Kind.SHIPPING, "C1", shipping("A1"), "shop-b"),  # the same shipment from another source
        (Kind.SHIPPING, "C404", shipping("A2"), "shop-a"),  # nobody
        (Kind.SHIPPING, f"#{cid}", bad, "shop-b"),  # known by id, payload refused
        (Kind.SHIPPING, f"#{cid}", shipping("A3"), "shop-b"),
        (Kind.SHIPPING, "C1", shipping("A1"), "shop-a"),  # again from the first source
    ]
    with app.engine.begin() as conn:
        done = notify.notify_many(conn, app.send_context(), batch)
    first, twin, nobody, refused, by_id, again = done
    assert not isinstance(first, ValidationError) and first.created
    assert not isinstance(twin, ValidationError) and not twin.created
    assert not isinstance(again, ValidationError) and not again.created
    assert twin.notification_id == again.notification_id == first.notification_id
    assert isinstance(nobody, ValidationError)
    assert [(p.field, p.value) for p in nobody.problems] == [("customer", "C404")]
    assert isinstance(refused, ValidationError)
    assert [p.field for p in refused.problems] == ["data.eta"]
    assert not isinstance(by_id, ValidationError) and by_id.created
    with app.engine.begin() as conn:
        rows = conn.execute(
            select(notifications.c.id, notifications.c.source).order_by(notifications.c.id)
        ).all()
        created = conn.execute(
            select(audit_events.c.actor, audit_events.c.subject).where(
                audit_events.c.action == "notification.created"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (first.notification_id, "shop-a"),
        (by_id.notification_id, "shop-b"),
    ]
    assert sorted(tuple(r) for r in created) == [
        ("shop-a", f"notification#{first.notification_id}"),
        ("shop-b", f"notification#{by_id.notification_id}"),
    ]
