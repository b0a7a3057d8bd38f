"""Planning a notification's first rung: the policy decides, the outbox stores the plan.

A known dedupe key returns the original notification, so a repeated event never sends twice.
The notification, its first delivery and its audit event are written in the caller's
transaction. The ``notification.created`` event names the notification (its subject) and keeps
the decision's summary; it does not copy the row's fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from outbound.domain.records import decision_record, decision_summary
from outbound.domain.values import Decision, NotificationStatus, Send, Suppress
from outbound.observability import metrics
from outbound.policy import decide
from outbound.policy.ladder import suppressed_status
from outbound.policy.model import NotificationView, Rules
from outbound.services.send.snapshots import load_snapshots
from outbound.store import audit, outbox
from outbound.store.outbox import Enqueued, NewNotification


def status_after(decision: Decision, rung: int) -> NotificationStatus:
    if isinstance(decision, Suppress):
        return suppressed_status(decision, rung)
    return NotificationStatus.PENDING


def enqueue(
    conn: Connection, items: Sequence[NewNotification], *, rules: Rules, now: datetime, actor: str
) -> list[Enqueued]:
    """Create notifications with their first plan; a known dedupe key returns the original."""
    known = outbox.existing(conn, [i.dedupe_key for i in items])
    fresh = list({i.dedupe_key: i for i in items if i.dedupe_key not in known}.values())
    snaps = load_snapshots(conn, [i.customer_id for i in fresh], now)
    planned = [
        (
            i,
            decide(
                NotificationView(i.kind, i.purpose, i.expires_at, i.channels),
                snaps[i.customer_id],
                rules,
            ),
        )
        for i in fresh
        if i.customer_id in snaps
    ]
    for _, d in planned:
        metrics.observe_decision(d)
    records = {i.dedupe_key: decision_record(d, now, 0) for i, d in planned}
    ids = outbox.insert_notifications(
        conn,
        [
            outbox.notification_row(i, status_after(d, 0), records[i.dedupe_key], now)
            for i, d in planned
        ],
    )
    first_rungs, events, results = [], [], {}
    for item, decision in planned:
        nid = ids.get(item.dedupe_key)
        if nid is None:  # lost a race with a concurrent identical event
            continue
        results[item.dedupe_key] = Enqueued(nid, True, item.dedupe_key, decision)
        if not isinstance(decision, Suppress):
            due = decision.at if isinstance(decision, Send) else decision.until
            first_rungs.append(outbox.delivery_row(nid, decision.channel, due, 0, now))
        # The subject names the notification; its kind, customer, source and dedupe key are in
        # its row (events stored before kept a copy of them, and still read as they were).
        data = {"decision": decision_summary(records[item.dedupe_key])}
        events.append(audit.Event(actor, "notification.created", f"notification#{nid}", data))
    outbox.insert_deliveries(conn, first_rungs)
    audit.append(conn, events, now)
    late = outbox.existing(conn, [i.dedupe_key for i in items if i.dedupe_key not in results])
    return [
        results.get(i.dedupe_key) or Enqueued(late[i.dedupe_key], False, i.dedupe_key, None)
        for i in items
    ]
