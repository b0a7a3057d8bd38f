"""How far sending got, for a run that watches its workers drain the queue (the demo): the
questions its waits ask, its summary and its last word (the audit chain checked).

Read-only; the rows come from ``outbound.store.progress``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.records import readable
from outbound.domain.values import Channel
from outbound.store import audit
from outbound.store import progress as rows

#: notification states that mean "not sent, and not going to be"
_GIVEN_UP = ("suppressed", "exhausted", "expired")


def receipts_pending(conn: Connection) -> bool:
    """Some delivery was sent and its receipt has not come yet."""
    return rows.any_awaiting_receipt(conn)


def work_due(conn: Connection, now: datetime) -> bool:
    """Some queued delivery is due by ``now``."""
    return rows.any_queued_due(conn, now)


def drained(conn: Connection, channel: Channel, now: datetime) -> bool:
    """No delivery of ``channel`` due by ``now`` is queued or in flight."""
    return rows.due_count(conn, channel, now) == 0


def revoked(conn: Connection, channel: Channel) -> set[int]:
    """Customers with a revocation of ``channel`` in the consent ledger."""
    return rows.revoked_customers(conn, channel)


def notification_count(conn: Connection, campaign_id: int | None = None) -> int:
    """All notifications, or those of one campaign."""
    return rows.notification_count(conn, campaign_id)


def finished_calls(conn: Connection) -> Sequence[Any]:
    """Voice deliveries with an outcome, oldest first, with the customer id and phone."""
    return rows.finished_calls(conn)


def outcome_by_provider_ref(conn: Connection, channel: Channel, ref: str) -> str | None:
    """The outcome of the ``channel`` delivery a provider knows as ``ref`` (None: not found,
    or no outcome yet)."""
    found = [
        r
        for r in rows.deliveries_with_notification(conn)
        if r.channel == channel.value and r.provider_ref == ref
    ]
    return found[0].outcome if found else None


def summary(conn: Connection, now: datetime) -> tuple[dict[str, Any], int | None]:
    """What the run did: sends by (channel, outcome), deliveries deferred past ``now`` by
    channel, give-ups by reason, fallbacks by kind and rung; and a notification that fell
    back (for ``outbound why``), if any."""
    found = rows.deliveries_with_notification(conn)
    notes = rows.all_notifications(conn)
    sent = Counter((r.channel, r.outcome) for r in found if r.outcome)
    deferred: dict[str, list[datetime]] = {}
    for r in found:
        if r.status == "queued" and r.due_at > now:
            deferred.setdefault(r.channel or "next rung (retry)", []).append(r.due_at)
    suppressed = Counter(
        readable(n.decisions[-1]).get("reason", "?") for n in notes if n.status in _GIVEN_UP
    )
    fallbacks = Counter(
        f"{r.kind} rung {r.rung} by {r.channel}" for r in found if r.rung > 0 and r.outcome
    )
    example = next((r.notification_id for r in found if r.rung > 0 and r.outcome), None)
    return {
        "sent": sent,
        "deferred": deferred,
        "suppressed": suppressed,
        "fallbacks": fallbacks,
    }, example


def last_word(conn: Connection) -> tuple[audit.VerifyResult, int]:
    """The audit chain checked from its start, and how many notifications there are."""
    return audit.verify(conn), rows.notification_count(conn)
