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

from sqlalchemy import Connection

from outbound.domain.errors import NotFoundError
from outbound.domain.masking import mask_endpoint, mask_phone, mask_text
from outbound.domain.records import readable
from outbound.services.views.history import campaign_list, customer_report, event_view, verdict
from outbound.store import audit, reports
from outbound.store.campaigns import notification_counts_by_campaign
from outbound.store.rows import pick

RECENT = 200  # notifications shown on one customer page, newest first
_DIGITS = re.compile(r"[\s().+-]")


def find_customers(conn: Connection, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """By external id (exact, or its beginning) or by the last digits of the phone (3 or more)."""
    text = query.strip()
    if not text:
        return []
    digits = _DIGITS.sub("", text)
    phone_digits = digits if digits.isdigit() and len(digits) >= 3 else None
    return [
        {
            **pick(r, ("id", "external_id", "name")),
            "phone": mask_phone(r["phone_e164"]),
            **pick(r, ("country", "timezone")),
        }
        for r in reports.customers_matching(conn, text, phone_digits, limit)
    ]


def customer_id_of(conn: Connection, cid: int) -> int:
    """``cid`` when there is such a customer; NotFoundError otherwise."""
    customer_row(conn, cid)
    return cid


def customer_row(conn: Connection, cid: int) -> dict[str, Any]:
    """One customer's stored row (phone unmasked: for the page's own use, never shown)."""
    row = reports.customer(conn, cid)
    if row is None:
        raise NotFoundError(f"customer #{cid} not found; search by external id or phone digits")
    return row


def external_id_of(conn: Connection, cid: int) -> str:
    """The external id the CLI would be given (a forgotten customer's is the pseudonym)."""
    return str(customer_row(conn, cid)["external_id"])


def history(conn: Connection, cid: int) -> dict[str, Any]:
    """The customer's one history: profile, consent evidence, notifications with their
    decision in words, deliveries with outcome details, receipts, inbound messages, events."""
    report = customer_report(conn, cid)
    notes = _notifications(conn, cid)
    delivery_ids = [d["id"] for n in notes for d in n["deliveries"]]
    events = report["events"]
    return {
        **report,
        "notifications": notes,
        "receipts": _receipts(conn, delivery_ids),
        "inbound": [e for e in events if e["action"] == "inbound.message"],
        "push_endpoints": [mask_endpoint(e) for e in reports.push_endpoints(conn, cid)],
    }


def _notifications(conn: Connection, cid: int) -> list[dict[str, Any]]:
    notes = reports.recent_notifications(conn, cid, RECENT)
    by_note: dict[int, list[dict[str, Any]]] = {n["id"]: [] for n in notes}
    for d in reports.deliveries_of(conn, list(by_note)):
        by_note[d["notification_id"]].append(_delivery(d))
    return [
        {
            **pick(n, ("id", "kind", "purpose", "status", "source", "created_at")),
            "verdict": verdict(readable(n["decisions"][-1]))
            if n["decisions"]
            else "not decided yet",
            "deliveries": by_note[n["id"]],
        }
        for n in notes
    ]


def _delivery(d: dict[str, Any]) -> dict[str, Any]:
    detail = dict(d["detail"] or {})
    return {
        **pick(d, ("id", "channel", "rung", "status", "outcome", "attempts", "due_at")),
        "updated_at": d["updated_at"],
        "intent": detail.pop("intent", None),
        "transcript": mask_text(str(detail.pop("transcript", "") or "")),
        "confidence": detail.pop("confidence", None),
        "detail": mask_text(json.dumps(detail, ensure_ascii=False, default=str)) if detail else "",
    }


def _receipts(conn: Connection, delivery_ids: list[int]) -> list[dict[str, Any]]:
    """What providers and the shop's app reported: SMS receipts per part, push delivered/opened."""
    out: list[dict[str, Any]] = []
    for r in reports.provider_receipts(conn, delivery_ids):
        out.append(
            {
                "delivery": r["delivery_id"],
                "channel": r["channel"],
                "what": r["outcome"] or "awaiting receipt",
                "at": r["created_at"],
                "detail": mask_text(json.dumps(r["detail"], default=str)) if r["detail"] else "",
            }
        )
    for p in reports.push_receipt_rows(conn, delivery_ids):
        for what, at in (("delivered", p["delivered_at"]), ("opened", p["opened_at"])):
            if at is not None:
                out.append(
                    {
                        "delivery": p["delivery_id"],
                        "channel": "push",
                        "what": what,
                        "at": at,
                        "detail": "",
                    }
                )
    return out


def record_view(
    conn: Connection, actor: str, cid: int, page: str, now: datetime, action: str = "console.view"
) -> None:
    """Who looked at whom: one audit event per page of a customer's data shown (or exported)."""
    audit.append(conn, [audit.Event(actor, action, f"customer#{cid}", {"page": page})], now)


def record_search(conn: Connection, actor: str, query: str, now: datetime) -> None:
    """A search, its text masked like a phone when it is a long run of digits."""
    text = mask_text(query.strip())[:64]
    digits = _DIGITS.sub("", text)
    if digits.isdigit() and len(digits) >= 7:
        text = "*" * (len(digits) - 4) + digits[-4:]
    audit.append(conn, [audit.Event(actor, "console.search", "console", {"query": text})], now)


def reveal(conn: Connection, actor: str, cid: int, now: datetime) -> dict[str, Any]:
    """The full phone number and push endpoints of one customer, recorded as a reveal."""
    phone = customer_row(conn, cid)["phone_e164"]
    endpoints = reports.push_endpoints(conn, cid)
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
    found = audit.events(
        conn,
        audit.EventFilter(
            actor=where.actor,
            action_prefix=where.action,
            subjects=[where.subject] if where.subject else None,
            since=where.since,
            until=where.until,
            before=before,
        ),
        newest_first=True,
        limit=size + 1,
    )
    more = int(found[size - 1]["seq"]) if len(found) > size else None
    return [_event(r) for r in found[:size]], more


def _event(stored: dict[str, Any]) -> dict[str, Any]:
    shown = event_view(stored)
    return {**shown, "data": json.dumps(shown["data"], ensure_ascii=False, default=str)}


def record_export(
    conn: Connection, actor: str, subject: str, meta: dict[str, Any], now: datetime
) -> None:
    """An evidence export handed out: what was selected, its format, size and sha256."""
    data = {
        "format": meta["format"],
        "rows": meta["rows"],
        "sha256": meta["sha256"],
        "selection": {k: v for k, v in meta["selection"].items() if v is not None},
        "head_seq": meta["chain"]["head_seq"],
    }
    audit.append(conn, [audit.Event(actor, "console.export", subject, data)], now)


def campaigns_overview(conn: Connection) -> list[dict[str, Any]]:
    """Every campaign with its status, last firing and its notifications by status."""
    counts = notification_counts_by_campaign(conn)
    return [{**c, "notifications": counts.get(c["id"], {})} for c in campaign_list(conn)]
