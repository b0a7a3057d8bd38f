"""Read models for people: a customer's one history, and ``why`` a notification went (or not)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import NotFoundError
from outbound.domain.masking import mask_evidence, mask_phone
from outbound.domain.records import readable, readable_summary
from outbound.store import audit, consent, reports
from outbound.store import campaigns as campaign_rows
from outbound.store.rows import pick

#: a delivery as ``why`` and the notification report show it
DELIVERY_FIELDS = ("id", "channel", "rung", "status", "outcome", "attempts", "due_at", "detail")
#: an audit event as readers see it (``data`` in words: ``event_view``)
EVENT_FIELDS = ("seq", "at", "actor", "action", "subject", "data", "hash")
#: an event in a customer's report (``customer show --json``)
_TRAIL_FIELDS = ("seq", "at", "action", "subject", "actor", "data")


def customer_id_for(conn: Connection, ref: str) -> int:
    """The customer an operator's reference names (external id, or ``#<id>``)."""
    from outbound.store import customers as customer_rows  # here: ``why`` needs none of it

    return customer_rows.customer_id_for(conn, ref)


def customer_report(conn: Connection, cid: int) -> dict[str, Any]:
    """Everything about one customer: profile (phone masked), consent ledger, history, audit."""
    row = reports.customer(conn, cid)
    if row is None:
        raise NotFoundError(f"customer #{cid} not found; search by external id or phone digits")
    history = reports.delivery_history(conn, cid)
    return {
        **_profile(conn, row),
        "consents": consent_ledger(conn, cid),
        "suppressions": [
            {"reason": d["reason"], "at": d["at"]} for d in consent.suppression_rows(conn, cid)
        ],
        "history": history,
        "events": _events(
            conn, cid, row["external_id"], [h["delivery"] for h in history if h["delivery"]]
        ),
    }


def _profile(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    cid = row["id"]
    return {
        "id": cid,
        "external_id": row["external_id"],
        "name": row["name"],
        "locale": row["locale"],
        "timezone": row["timezone"],
        "phone": mask_phone(row["phone_e164"]),
        "country": row["country"],
        "state": row["state"],
        "erased_at": row["erased_at"],
        "membership": {
            "tier": row["membership_tier"],
            "expires_on": row["membership_expires_on"],
        },
        "wishlist": reports.wishlist_skus(conn, cid),
        "push_subscriptions": len(reports.push_endpoints(conn, cid)),
        "preference": reports.preferred_channels(conn, cid),
    }


def consent_ledger(conn: Connection, cid: int) -> list[dict[str, Any]]:
    """Every consent change with its evidence: when, what, who, how (source), the wording
    (masked: a phone number in the wording is not shown)."""
    return [
        {
            "at": c["at"],
            "action": c["action"],
            "channel": c["channel"] or "all",
            "purpose": c["purpose"] or "all",
            "written": c["written"],
            "actor": c["actor"],
            "source": c["source"],
            "evidence": mask_evidence(c["evidence"]),
        }
        for c in consent.consent_rows(conn, cid)
    ]


def _events(
    conn: Connection, cid: int, external_id: str, delivery_ids: list[int]
) -> list[dict[str, Any]]:
    """The customer's audit trail: profile and consent changes, inbound messages, receipts,
    outcomes — every event about the customer or one of their last 200 deliveries."""
    subjects = [f"customer#{cid}", f"customer:{external_id}"]
    subjects += [f"delivery#{d}" for d in sorted(delivery_ids)[-200:]]
    trail = audit.events(conn, audit.EventFilter(subjects=subjects))
    return [event_view(r, _TRAIL_FIELDS) for r in trail]


def event_view(stored: dict[str, Any], fields: tuple[str, ...] = EVENT_FIELDS) -> dict[str, Any]:
    """An audit event as readers see it: its data in words (``event_data``)."""
    return {**pick(stored, fields), "data": event_data(stored["data"])}


def audit_list(
    conn: Connection, *, subject: str | None, action: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` audit events, of one subject and/or one action if given."""
    where = audit.EventFilter(subjects=[subject] if subject else None, action=action or "")
    return [event_view(r) for r in audit.events(conn, where, newest_first=True, limit=limit)]


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
    note = reports.notification(conn, nid)
    if note is None:
        raise NotFoundError(f"notification {nid} not found")
    who = reports.customer(conn, note["customer_id"]) or {}
    rows = reports.deliveries_of(conn, [nid])
    decisions = [readable(d) for d in note["decisions"]]
    for d in rows:
        _template_step(decisions, d["rung"], d["channel"], d["detail"])
    return {
        **pick(note, ("id", "kind", "purpose")),
        "customer": who.get("external_id"),
        **pick(note, ("status", "source", "dedupe_key", "created_at", "expires_at")),
        "decisions": decisions,
        "deliveries": [pick(d, DELIVERY_FIELDS) for d in rows],
    }


def customer_of_notification(conn: Connection, nid: int) -> int:
    """The internal id of the customer a notification is for."""
    note = reports.notification(conn, nid)
    if note is None:
        raise NotFoundError(f"notification {nid} not found")
    return int(note["customer_id"])


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
    from outbound.services.campaigns import runs as campaigns  # the rules engine: only here

    row = campaigns.get(conn, ref)
    runs = campaign_rows.recent_runs(conn, int(row.id), 20)
    statuses = campaign_rows.notification_counts(conn, int(row.id))
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
            pick(r, ("fire_time", "selected", "created", "finished_at", "error")) for r in runs
        ],
    }


def campaign_list(conn: Connection) -> list[dict[str, Any]]:
    """Every campaign: id, name, kind, schedule, timezone, status and its last firing."""
    return campaign_rows.campaign_list(conn)


def campaign_funnel(conn: Connection, ref: str | int, *, now: datetime) -> dict[str, Any]:
    """The campaign's funnel, deferrals and sends per local hour (``campaign report``)."""
    from outbound.services.campaigns.report import funnel_report

    return funnel_report(conn, ref, now=now)
