"""Planning a notification's first rung: the policy decides, the store writes the plan.

A known dedupe key returns the original notification, so a repeated event never sends twice.
What the plan needs is read in one store call (``store.snapshots.send_view``, which ``enqueue``
makes; the notify path reads it with its customer look-up, ``send_view_by_ref``), the policy
decides with pure code, and the notifications, their first deliveries and their audit events
are written in one (``store.notifications.commit_plan``), in the caller's transaction. The ``notification.created`` event names the notification (its subject)
and keeps the decision's summary; it does not copy the row's fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from outbound.domain.records import decision_record, decision_summary
from outbound.domain.values import Decision, NotificationStatus, Send, Suppress
from outbound.observability import metrics
from outbound.policy import decide
from outbound.policy.ladder import suppressed_status
from outbound.policy.model import NotificationView, Rules
from outbound.services.endpoints.events import emit_decisions
from outbound.services.send.snapshots import snapshots_of
from outbound.store.notifications import Enqueued, NewNotification, Planned, commit_plan
from outbound.store.snapshots import SendView, send_view


def status_after(decision: Decision, rung: int) -> NotificationStatus:
    if isinstance(decision, Suppress):
        return suppressed_status(decision, rung)
    return NotificationStatus.PENDING


def enqueue(
    conn: Connection, items: Sequence[NewNotification], *, rules: Rules, now: datetime, actor: str
) -> list[Enqueued]:
    """Create notifications with their first plan; a known dedupe key returns the original."""
    view = send_view(conn, [(i.customer_id, i.dedupe_key) for i in items])
    return commit(conn, items, view, rules=rules, now=now, actor=actor)


def commit(
    conn: Connection,
    items: Sequence[NewNotification],
    view: SendView,
    *,
    rules: Rules,
    now: datetime,
    actor: str,
    known: Mapping[str, int] | None = None,
) -> list[Enqueued]:
    """``enqueue`` with what ``view`` read; ``known`` adds keys stored since it was read."""
    stored = {**view.known, **(known or {})}
    fresh = list({i.dedupe_key: i for i in items if i.dedupe_key not in stored}.values())
    decided = _decide(fresh, view, rules, now)
    ids, late = commit_plan(conn, [p for p, _ in decided], actor=actor, now=now)
    results = {
        p.item.dedupe_key: Enqueued(ids[p.item.dedupe_key], True, p.item.dedupe_key, d)
        for p, d in decided
        if p.item.dedupe_key in ids
    }
    held = [
        (d, results[p.item.dedupe_key].notification_id, p.item.customer_id, p.item.payload)
        for p, d in decided
        if p.item.dedupe_key in results
    ]
    emit_decisions(conn, held, now)
    stored.update(late)
    return [
        results.get(i.dedupe_key) or Enqueued(stored[i.dedupe_key], False, i.dedupe_key, None)
        for i in items
    ]


def _decide(
    fresh: Sequence[NewNotification], view: SendView, rules: Rules, now: datetime
) -> list[tuple[Planned, Decision]]:
    """The policy's first decision for each new notification whose customer is known."""
    snaps = snapshots_of(view.customers, now)
    out: list[tuple[Planned, Decision]] = []
    for i in fresh:
        if i.customer_id not in snaps:
            continue
        view_ = NotificationView(i.kind, i.purpose, i.expires_at, i.channels)
        d = decide(view_, snaps[i.customer_id], rules)
        metrics.observe_decision(d)
        record = decision_record(d, now, 0)
        rung = None
        if not isinstance(d, Suppress):
            rung = (d.channel, d.at if isinstance(d, Send) else d.until)
        data = {"decision": decision_summary(record)}
        out.append((Planned(i, status_after(d, 0), record, rung, data), d))
    return out
