"""A campaign's report: the funnel per channel, deferrals by reason, sends per local hour.

Stages, per channel (a notification that moved down the ladder counts on each channel tried):

- ``queued``: notifications with a delivery planned on the channel;
- ``sent``: deliveries the provider took (status ``sent`` or ``done``, outcome not ``rejected``);
- ``delivered`` (SMS, push receipts), ``answered`` (voice, a person on the line), ``opened``
  (push, reported by the app);
- ``opted_out``: customers of the campaign who revoked consent for the channel (or for all)
  after its notification to them was created.

Sends per hour use the time the provider's answer was recorded, in the customer's time zone
(else the campaign's).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from outbound.domain.records import readable, unpack
from outbound.domain.trace import Note
from outbound.domain.values import Channel, DeliveryStatus, Outcome
from outbound.services.campaigns import runs as campaigns
from outbound.store import campaigns as store
from outbound.store import consent

STAGES = ("queued", "sent", "delivered", "answered", "opened", "opted_out")
_SENT = (DeliveryStatus.SENT.value, DeliveryStatus.DONE.value)


def _opted_out(conn: Connection, notes: list[Any]) -> dict[str, int]:
    """Customers who revoked a channel (or all) after the campaign's notice to them."""
    first: dict[int, datetime] = {}
    for n in notes:
        first[n.customer_id] = min(first.get(n.customer_id, n.created_at), n.created_at)
    who: dict[str, set[int]] = defaultdict(set)
    for r in consent.revocations(conn, sorted(first)):
        if r["at"] >= first[r["customer_id"]]:
            for ch in [r["channel"]] if r["channel"] else [c.value for c in Channel]:
                who[ch].add(int(r["customer_id"]))
    return {ch: len(ids) for ch, ids in who.items()}


def _funnel(rows: list[Any], opted: dict[str, int]) -> list[dict[str, Any]]:
    stages: dict[str, Counter[str]] = defaultdict(Counter)
    queued: dict[str, set[int]] = defaultdict(set)
    for d in rows:
        ch = d.channel or "undecided"
        queued[ch].add(int(d.notification_id))
        if d.status in _SENT and d.outcome != Outcome.REJECTED.value:
            stages[ch]["sent"] += 1
        if d.outcome == Outcome.DELIVERED.value:
            stages[ch]["delivered"] += 1
        if d.outcome == Outcome.ANSWERED.value:
            stages[ch]["answered"] += 1
        if d.opened_at is not None:
            stages[ch]["opened"] += 1
    channels = sorted(set(queued) | {ch for ch, n in opted.items() if n})
    return [
        {
            "channel": ch,
            "queued": len(queued.get(ch, ())),
            **{s: stages[ch][s] for s in ("sent", "delivered", "answered", "opened")},
            "opted_out": opted.get(ch, 0),
        }
        for ch in channels
    ]


def _reason_group(stored: Any) -> str | None:
    """A deferral's reason without the customer's own clock, so like waits group together:
    ``quiet hours: sms window 08:00–21:00 (US)``; None when the record is not a deferral."""
    record = unpack(stored)  # packed by position, or a mapping of an older release
    if record.get("v") != "defer":  # a prose record of an older release, or not a defer
        words = readable(record)
        return str(words.get("reason")) if words.get("type") == "defer" else None
    why = Note.from_json(record.get("why", ""))  # short codes (w:quiet_hours) in full
    code, args = why.code, list(why.args)
    where = record.get("j") or "?"
    if code == "wait:quiet_hours" and args:
        span = str(args[0]).replace("-", "–")
        return f"quiet hours: {record.get('ch')} window {span} ({where})"
    if code == "wait:holiday" and len(args) > 1:
        return f"public holiday: {args[1]} ({where})"
    if code == "wait:cap" and args:
        return f"cap reached: {', '.join(args[0])}"
    return code


def _last_defer_reason(decisions: list[Any], detail: dict[str, Any]) -> str:
    for record in reversed(decisions or []):
        reason = _reason_group(record)
        if reason is not None:
            return reason
    if detail.get("after"):  # a next rung of the ladder waiting for its delay
        return f"next rung after {detail['after']}"
    return "waiting for its time"


def _deferrals(rows: list[Any], notes: dict[int, Any], now: datetime) -> list[dict[str, Any]]:
    """Queued deliveries not yet due, by channel and the reason of the last deferral."""
    groups: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for d in rows:
        if d.status == DeliveryStatus.QUEUED.value and d.due_at > now:
            reason = _last_defer_reason(notes[d.notification_id].decisions, d.detail or {})
            groups[(d.channel or "undecided", reason)].append(d.due_at)
    return [
        {"channel": ch, "reason": reason, "count": len(due), "resumes": min(due), "last": max(due)}
        for (ch, reason), due in sorted(groups.items())
    ]


def _by_local_hour(rows: list[Any], notes: dict[int, Any], zone: str) -> dict[str, list[int]]:
    hours: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    zones: dict[str, ZoneInfo] = {}
    for d in rows:
        if d.status not in _SENT or d.outcome == Outcome.REJECTED.value:
            continue
        name = notes[d.notification_id].timezone or zone
        tz = zones.setdefault(name, ZoneInfo(name))
        hours[d.channel or "undecided"][d.updated_at.astimezone(tz).hour] += 1
    return dict(sorted(hours.items()))


def _suppressed(notes: list[Any]) -> dict[str, int]:
    """Suppressed notifications by the reason of their last decision."""
    reasons: Counter[str] = Counter()
    for n in notes:
        if n.status != "suppressed":
            continue
        words = readable(n.decisions[-1]) if n.decisions else {}
        reasons[str(words.get("reason") or "suppressed")] += 1
    return dict(reasons.most_common())


def funnel_report(conn: Connection, ref: str | int, *, now: datetime) -> dict[str, Any]:
    """The campaign's report as plain data (the CLI table, ``--json``, the console, the chart)."""
    camp = campaigns.get(conn, ref)
    selected = store.selected_total(conn, int(camp.id))
    notes = store.campaign_notifications(conn, int(camp.id))
    by_id = {int(n.id): n for n in notes}
    rows = store.campaign_deliveries(conn, sorted(by_id))
    return {
        "campaign": {"id": camp.id, "name": camp.name, "kind": camp.kind, "status": camp.status},
        "generated_at": now,
        "selected": selected,
        "notifications": len(notes),
        "suppressed": _suppressed(notes),
        "funnel": _funnel(rows, _opted_out(conn, notes)),
        "deferrals": _deferrals(rows, by_id, now),
        "sends_by_local_hour": _by_local_hour(rows, by_id, str(camp.timezone)),
    }
