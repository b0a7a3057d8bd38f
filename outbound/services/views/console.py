"""Read models of the compliance console: find a customer, their one history, the audit log.

Phones and push endpoints are masked in everything returned here except ``reveal``; a view of
a customer's data and every reveal are audit events naming who looked at whom.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from outbound.domain.masking import mask_endpoint, mask_evidence, mask_phone, mask_text
from outbound.domain.records import readable
from outbound.services.views.history import customer_report, event_data, verdict
from outbound.store import audit
from outbound.store.privacy import hashing_key, inbound_texts_by_seq, keyed_digest
from outbound.store.tables import (
    audit_events,
    campaign_runs,
    campaigns,
    consents,
    customers,
    deliveries,
    notifications,
    provider_refs,
    push_receipts,
    push_subscriptions,
)

RECENT = 200  # notifications shown on one customer page, newest first
_DIGITS = re.compile(r"[\s().+-]")


def find_customers(conn: Connection, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """By external id (exact, or its beginning) or by the last digits of the phone (3 or more)."""
    text = query.strip()
    if not text:
        return []
    digits = _DIGITS.sub("", text)
    conds = [
        customers.c.external_id == text,
        customers.c.external_id.startswith(text, autoescape=True),
    ]
    if digits.isdigit() and len(digits) >= 3:
        conds.append(customers.c.phone_e164.endswith(digits))
    rows = conn.execute(
        select(customers).where(or_(*conds)).order_by(customers.c.external_id).limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "external_id": r.external_id,
            "name": r.name,
            "phone": mask_phone(r.phone_e164),
            "country": r.country,
            "timezone": r.timezone,
        }
        for r in rows
    ]


def history(conn: Connection, cid: int) -> dict[str, Any]:
    """The customer's one history: profile, consent evidence, notifications with their
    decision in words, deliveries with outcome details, receipts, inbound messages, events."""
    report = customer_report(conn, cid)
    notes = _notifications(conn, cid)
    delivery_ids = [d["id"] for n in notes for d in n["deliveries"]]
    events = report["events"]
    for e in events:  # free text quoted by releases before it was kept out of the chain
        if e["action"] == "inbound.message" and isinstance(e["data"], dict):
            e["data"].pop("text", None)
    texts = inbound_texts_by_seq(conn, cid)  # erased with the customer
    return {
        **report,
        "consents": _ledger(conn, cid),
        "notifications": notes,
        "receipts": _receipts(conn, delivery_ids),
        "inbound": [
            {**e, "text": texts.get(e["seq"], "")}
            for e in events
            if e["action"] == "inbound.message"
        ],
        "push_endpoints": [mask_endpoint(e) for e in _endpoints(conn, cid)],
    }


def _ledger(conn: Connection, cid: int) -> list[dict[str, Any]]:
    """Every consent change with its evidence: who, when, how (source), the wording."""
    rows = conn.execute(
        select(consents).where(consents.c.customer_id == cid).order_by(consents.c.id)
    )
    return [
        {
            "at": c.at,
            "action": c.action,
            "channel": c.channel or "every channel",
            "purpose": c.purpose or "every purpose",
            "written": c.written,
            "actor": c.actor,
            "source": c.source,
            "evidence": mask_evidence(c.evidence),
        }
        for c in rows
    ]


def _notifications(conn: Connection, cid: int) -> list[dict[str, Any]]:
    notes = conn.execute(
        select(notifications)
        .where(notifications.c.customer_id == cid)
        .order_by(notifications.c.id.desc())
        .limit(RECENT)
    ).all()
    by_note: dict[int, list[dict[str, Any]]] = {n.id: [] for n in notes}
    for d in conn.execute(
        select(deliveries)
        .where(deliveries.c.notification_id.in_(list(by_note)))
        .order_by(deliveries.c.id)
    ):
        by_note[d.notification_id].append(_delivery(d))
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "purpose": n.purpose,
            "status": n.status,
            "source": n.source,
            "created_at": n.created_at,
            "verdict": verdict(readable(n.decisions[-1])) if n.decisions else "not decided yet",
            "deliveries": by_note[n.id],
        }
        for n in notes
    ]


def _delivery(d: Any) -> dict[str, Any]:
    detail = dict(d.detail or {})
    return {
        "id": d.id,
        "channel": d.channel,
        "rung": d.rung,
        "status": d.status,
        "outcome": d.outcome,
        "attempts": d.attempts,
        "due_at": d.due_at,
        "updated_at": d.updated_at,
        "intent": detail.pop("intent", None),
        "transcript": mask_text(str(detail.pop("transcript", "") or "")),
        "confidence": detail.pop("confidence", None),
        "detail": mask_text(json.dumps(detail, ensure_ascii=False, default=str)) if detail else "",
    }


def _receipts(conn: Connection, delivery_ids: list[int]) -> list[dict[str, Any]]:
    """What providers and the shop's app reported: SMS receipts per part, push delivered/opened."""
    out: list[dict[str, Any]] = []
    for r in conn.execute(
        select(provider_refs)
        .where(provider_refs.c.delivery_id.in_(delivery_ids))
        .order_by(provider_refs.c.created_at)
    ):
        state = mask_text(json.dumps(r.detail, default=str)) if r.detail else ""
        out.append(
            {
                "delivery": r.delivery_id,
                "channel": r.channel,
                "what": r.outcome or "awaiting receipt",
                "at": r.created_at,
                "detail": state,
            }
        )
    for p in conn.execute(
        select(push_receipts).where(push_receipts.c.delivery_id.in_(delivery_ids))
    ):
        for what, at in (("delivered", p.delivered_at), ("opened", p.opened_at)):
            if at is not None:
                out.append(
                    {
                        "delivery": p.delivery_id,
                        "channel": "push",
                        "what": what,
                        "at": at,
                        "detail": "",
                    }
                )
    return out


def _endpoints(conn: Connection, cid: int) -> list[str]:
    return list(
        conn.execute(
            select(push_subscriptions.c.endpoint)
            .where(push_subscriptions.c.customer_id == cid)
            .order_by(push_subscriptions.c.id)
        ).scalars()
    )


def record_view(
    conn: Connection, actor: str, cid: int, page: str, now: datetime, action: str = "console.view"
) -> None:
    """Who looked at whom: one audit event per page of a customer's data shown (or exported)."""
    audit.append(conn, [audit.Event(actor, action, f"customer#{cid}", {"page": page})], now)


def search_kind(query: str) -> str:
    """What a search looked for, without what it was: ``phone`` (digits and the separators a
    number is written with), ``id`` (one token with a digit, e.g. ``C1001``) or ``name``."""
    text = query.strip()
    digits = _DIGITS.sub("", text).replace("/", "")
    if digits.isdigit():
        return "phone"
    if " " not in text and any(ch.isdigit() for ch in text):
        return "id"
    return "name"


def record_search(conn: Connection, actor: str, query: str, now: datetime) -> None:
    """A search: its kind and a keyed hash of the query (under the audit key, or the database's
    own salt), never the query — the same search hashes the same, so an auditor holding the key
    can test "was X searched for", nobody reading the chain can read what was."""
    text = query.strip()
    data = {
        "kind": search_kind(text),
        "query_hash": keyed_digest(hashing_key(conn, now), "console.search", text),
    }
    audit.append(conn, [audit.Event(actor, "console.search", "console", data)], now)


def reveal(conn: Connection, actor: str, cid: int, now: datetime) -> dict[str, Any]:
    """The full phone number and push endpoints of one customer, recorded as a reveal."""
    phone = conn.execute(select(customers.c.phone_e164).where(customers.c.id == cid)).scalar_one()
    endpoints = _endpoints(conn, cid)
    audit.append(
        conn,
        [audit.Event(actor, "console.reveal", f"customer#{cid}", {"fields": ["phone", "push"]})],
        now,
    )
    return {"phone": phone or "", "push_endpoints": endpoints}


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_page(
    conn: Connection, where: AuditFilter, *, before: int | None, size: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, ``size`` rows older than seq ``before``; and the ``before`` of the next page."""
    ev = audit_events
    query = select(ev).order_by(ev.c.seq.desc()).limit(size + 1)
    if where.actor:
        query = query.where(ev.c.actor == where.actor)
    if where.action:
        query = query.where(ev.c.action.startswith(where.action, autoescape=True))
    if where.subject:
        query = query.where(ev.c.subject == where.subject)
    if where.since is not None:
        query = query.where(ev.c.at >= where.since)
    if where.until is not None:
        query = query.where(ev.c.at < where.until)
    if before is not None:
        query = query.where(ev.c.seq < before)
    rows = conn.execute(query).all()
    more = int(rows[size - 1].seq) if len(rows) > size else None
    return [_event(r) for r in rows[:size]], more


def _event(r: Any) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "at": r.at,
        "actor": r.actor,
        "action": r.action,
        "subject": r.subject,
        "data": json.dumps(event_data(r.data), ensure_ascii=False, default=str),
        "hash": r.hash,
    }


def record_export(
    conn: Connection,
    actor: str,
    subject: str,
    meta: dict[str, Any],
    now: datetime,
    action: str = "console.export",
) -> None:
    """An evidence export handed out: what was selected, its format, size and sha256."""
    data = {
        "format": meta["format"],
        "rows": meta["rows"],
        "sha256": meta["sha256"],
        "selection": {k: v for k, v in meta["selection"].items() if v is not None},
        "head_seq": meta["chain"]["head_seq"],
    }
    audit.append(conn, [audit.Event(actor, action, subject, data)], now)


def campaigns_overview(conn: Connection) -> list[dict[str, Any]]:
    """Every campaign with its status, last firing and its notifications by status."""
    counts: dict[int, dict[str, int]] = {}
    for cid, status, n in conn.execute(
        select(notifications.c.campaign_id, notifications.c.status, func.count())
        .where(notifications.c.campaign_id.is_not(None))
        .group_by(notifications.c.campaign_id, notifications.c.status)
    ):
        counts.setdefault(int(cid), {})[str(status)] = int(n)
    last: dict[int, Any] = {
        int(cid): at
        for cid, at in conn.execute(
            select(campaign_runs.c.campaign_id, func.max(campaign_runs.c.fire_time)).group_by(
                campaign_runs.c.campaign_id
            )
        )
    }
    return [
        {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "schedule": r.schedule,
            "timezone": r.timezone,
            "status": r.status,
            "last_fire": last.get(r.id),
            "notifications": counts.get(r.id, {}),
        }
        for r in conn.execute(select(campaigns).order_by(campaigns.c.id))
    ]
