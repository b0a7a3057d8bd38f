"""Read models for people: a customer's one history, and ``why`` a notification went (or not)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from outbound.domain.errors import NotFoundError
from outbound.domain.masking import mask_phone
from outbound.domain.records import readable, readable_summary
from outbound.services.campaigns import runs as campaigns
from outbound.store.tables import (
    audit_events,
    campaign_runs,
    consents,
    customers,
    deliveries,
    notifications,
    preferences,
    push_subscriptions,
    suppressions,
    wishlist_items,
)


def customer_report(conn: Connection, cid: int) -> dict[str, Any]:
    """Everything about one customer: profile (phone masked), consent ledger, history, audit."""
    row = conn.execute(select(customers).where(customers.c.id == cid)).one()
    history = _history(conn, cid)
    return {
        **_profile(conn, row),
        "consents": _ledger(conn, cid),
        "suppressions": [
            {"reason": d.reason, "at": d.at}
            for d in conn.execute(
                select(suppressions.c.reason, suppressions.c.at).where(
                    suppressions.c.customer_id == cid
                )
            )
        ],
        "history": history,
        "events": _events(
            conn, cid, row.external_id, [h["delivery"] for h in history if h["delivery"]]
        ),
    }


def _profile(conn: Connection, row: Any) -> dict[str, Any]:
    cid = row.id
    return {
        "id": row.id,
        "external_id": row.external_id,
        "name": row.name,
        "locale": row.locale,
        "timezone": row.timezone,
        "phone": mask_phone(row.phone_e164),
        "country": row.country,
        "state": row.state,
        "erased_at": row.erased_at,
        "membership": {"tier": row.membership_tier, "expires_on": row.membership_expires_on},
        "wishlist": list(
            conn.execute(
                select(wishlist_items.c.sku).where(wishlist_items.c.customer_id == cid)
            ).scalars()
        ),
        "push_subscriptions": len(
            conn.execute(
                select(push_subscriptions.c.id).where(push_subscriptions.c.customer_id == cid)
            ).all()
        ),
        "preference": list(
            conn.execute(
                select(preferences.c.channel)
                .where(preferences.c.customer_id == cid)
                .order_by(preferences.c.rank)
            ).scalars()
        ),
    }


def _ledger(conn: Connection, cid: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(consents).where(consents.c.customer_id == cid).order_by(consents.c.id)
    )
    return [
        {
            "at": c.at,
            "action": c.action,
            "channel": c.channel or "all",
            "purpose": c.purpose or "all",
            "written": c.written,
            "source": c.source,
            "evidence": c.evidence,
        }
        for c in rows
    ]


def _history(conn: Connection, cid: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            notifications.c.id.label("nid"),
            notifications.c.kind,
            notifications.c.status.label("nstatus"),
            deliveries.c.id.label("did"),
            deliveries.c.channel,
            deliveries.c.rung,
            deliveries.c.status,
            deliveries.c.outcome,
            deliveries.c.due_at,
            deliveries.c.updated_at,
        )
        .select_from(notifications.outerjoin(deliveries))
        .where(notifications.c.customer_id == cid)
        .order_by(notifications.c.id, deliveries.c.id)
    )
    return [
        {
            "notification": h.nid,
            "kind": h.kind,
            "notification_status": h.nstatus,
            "delivery": h.did,
            "channel": h.channel,
            "rung": h.rung,
            "status": h.status,
            "outcome": h.outcome,
            "due_at": h.due_at,
            "updated_at": h.updated_at,
        }
        for h in rows
    ]


def _events(
    conn: Connection, cid: int, external_id: str, delivery_ids: list[int]
) -> list[dict[str, Any]]:
    """The customer's audit trail: profile and consent changes, inbound messages, receipts,
    outcomes — every event about the customer or one of their last 200 deliveries."""
    subjects = [f"customer#{cid}", f"customer:{external_id}"]
    subjects += [f"delivery#{d}" for d in sorted(delivery_ids)[-200:]]
    rows = conn.execute(
        select(audit_events)
        .where(audit_events.c.subject.in_(subjects))
        .order_by(audit_events.c.seq)
    ).all()
    return [
        {
            "seq": r.seq,
            "at": r.at,
            "action": r.action,
            "subject": r.subject,
            "actor": r.actor,
            "data": event_data(r.data),
        }
        for r in rows
    ]


def event_data(stored: str) -> Any:
    """An audit event's data as readers always saw it: a decision summary in words.

    Keys in the canonical (sorted) order the event was stored in, as before summaries were
    stored as codes.
    """
    data = json.loads(stored)
    if isinstance(data, dict) and isinstance(data.get("decision"), dict):
        data["decision"] = json.loads(
            json.dumps(readable_summary(data["decision"]), sort_keys=True, ensure_ascii=False)
        )
    return data


def notification_report(conn: Connection, nid: int) -> dict[str, Any]:
    note = conn.execute(select(notifications).where(notifications.c.id == nid)).first()
    if note is None:
        raise NotFoundError(f"notification {nid} not found")
    who = conn.execute(
        select(customers.c.external_id).where(customers.c.id == note.customer_id)
    ).scalar_one()
    rows = conn.execute(
        select(deliveries).where(deliveries.c.notification_id == nid).order_by(deliveries.c.id)
    ).all()
    decisions = [readable(d) for d in note.decisions]
    for d in rows:
        _template_step(decisions, d.rung, d.channel, d.detail)
    return {
        "id": note.id,
        "kind": note.kind,
        "purpose": note.purpose,
        "customer": who,
        "status": note.status,
        "source": note.source,
        "dedupe_key": note.dedupe_key,
        "created_at": note.created_at,
        "expires_at": note.expires_at,
        "decisions": decisions,
        "deliveries": [
            {
                "id": d.id,
                "channel": d.channel,
                "rung": d.rung,
                "status": d.status,
                "outcome": d.outcome,
                "attempts": d.attempts,
                "due_at": d.due_at,
                "detail": d.detail,
            }
            for d in rows
        ],
    }


def template_note(template: dict[str, Any]) -> str:
    """``rendered in fr (no fr-CA template): price_drop/sms.fr.j2 sha256 1a2b3c4d5e6f``."""
    used = f"rendered in {template.get('locale', '?')}"
    if template.get("fallback"):
        used += f" ({template['fallback']})"
    return f"{used}: {template.get('file', '?')} sha256 {str(template.get('sha256', ''))[:12]}"


def _template_step(
    decisions: list[dict[str, Any]], rung: int, channel: str | None, detail: Any
) -> None:
    """The template a delivery's text came from, as a step of the decision that sent it."""
    template = detail.get("template") if isinstance(detail, dict) else None
    if not isinstance(template, dict):
        return
    for decision in reversed(decisions):
        same = decision.get("rung") == rung and decision.get("channel") == channel
        if decision.get("type") == "send" and same:
            trace = decision.setdefault("trace", [])
            if not any(s.get("rule") == "template" for s in trace):  # not once per reader
                step = {"ok": True, "rule": "template", "channel": channel}
                trace.append({**step, "detail": template_note(template)})
            return


def verdict(decision: dict[str, Any]) -> str:
    """A decision in plain words (the first line ``why`` prints for it)."""
    if decision["type"] == "send":
        return f"SEND by {decision['channel']} at {decision['at']}"
    if decision["type"] == "defer":
        return (
            f"DEFER {decision.get('channel') or ''} until {decision['until']}: {decision['reason']}"
        )
    return f"SUPPRESS: {decision['reason']}"


def campaign_report(conn: Connection, ref: str | int) -> dict[str, Any]:
    """A campaign's definition, its last 20 runs and its notifications by status."""
    row = campaigns.get(conn, ref)
    runs = conn.execute(
        select(campaign_runs)
        .where(campaign_runs.c.campaign_id == row.id)
        .order_by(campaign_runs.c.fire_time.desc())
        .limit(20)
    ).all()
    statuses: dict[str, int] = dict(
        conn.execute(  # type: ignore[arg-type]
            select(notifications.c.status, func.count())
            .where(notifications.c.campaign_id == row.id)
            .group_by(notifications.c.status)
        ).all()
    )
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "schedule": row.schedule,
        "timezone": row.timezone,
        "status": row.status,
        "segment": row.segment,
        "params": row.params,
        "notifications": statuses,
        "runs": [
            {
                "fire_time": r.fire_time,
                "selected": r.selected,
                "created": r.created,
                "finished_at": r.finished_at,
                "error": r.error,
            }
            for r in runs
        ],
    }


def campaign_funnel(conn: Connection, ref: str | int, *, now: datetime) -> dict[str, Any]:
    """The campaign's funnel, deferrals and sends per local hour (``campaign report``)."""
    from outbound.services.campaigns.report import funnel_report

    return funnel_report(conn, ref, now=now)
