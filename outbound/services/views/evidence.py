"""Evidence exports: audit rows (and, for one customer, everything a subject-access request or a
consent dispute needs) as CSV or JSONL, with a manifest that ties the file to the chain.

Audit rows are exported exactly as stored (``data`` is the canonical JSON string that was
hashed), so a reviewer can recompute ``hash = sha256(prev_hash + canonical row)`` from the file
alone. Every record has the same columns (``RECORD_FIELDS``); ``record`` says what it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from sqlalchemy import Connection

from outbound.domain.masking import mask_log_text
from outbound.domain.records import readable
from outbound.services.campaigns import runs as campaigns
from outbound.services.people.erasure import erasure_events, resolve
from outbound.store import audit, consent, reports

Format = Literal["csv", "jsonl"]
RECORD_FIELDS = ("record", "id", "at", "actor", "action", "subject", "data", "prev_hash", "hash")
#: a spreadsheet runs a cell starting with one of these as a formula (CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


@dataclass(frozen=True)
class Selection:
    """What to export; the filters combine (a customer's events of one week, say)."""

    customer: str | None = None
    campaign: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> dict[str, str | None]:
        return {
            "customer": self.customer,
            "campaign": self.campaign,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass
class _Scope:
    subjects: list[str] | None = None  # None = every subject
    customer_id: int | None = None
    erased: bool = False
    note_ids: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)


def _scope(conn: Connection, sel: Selection, key: bytes | None) -> _Scope:
    scope = _Scope()
    if sel.customer is not None:
        cid, erased = resolve(conn, sel.customer, key)
        scope.customer_id, scope.erased = cid, erased
        scope.note_ids = reports.notification_ids(conn, customer_id=cid)
        scope.subjects = [f"customer#{cid}", f"customer:{sel.customer}"]
    if sel.campaign is not None:
        row = campaigns.get(conn, sel.campaign)
        in_campaign = reports.notification_ids(conn, campaign_id=int(row.id))
        if scope.subjects is None:
            scope.note_ids, scope.subjects = in_campaign, [f"campaign#{row.id}"]
        else:  # one customer's notifications of one campaign
            scope.note_ids = sorted(set(scope.note_ids) & set(in_campaign))
    if scope.subjects is not None:
        scope.delivery_ids = reports.delivery_ids_of(conn, scope.note_ids)
        scope.subjects += [f"notification#{n}" for n in scope.note_ids]
        scope.subjects += [f"delivery#{d}" for d in scope.delivery_ids]
    return scope


def _audit_record(stored: dict[str, Any]) -> dict[str, Any]:
    """An audit row exactly as stored (``data`` the canonical JSON that was hashed)."""
    return {"record": "audit", "id": stored["seq"], **{f: stored[f] for f in RECORD_FIELDS[2:]}}


def _audit_rows(conn: Connection, scope: _Scope, sel: Selection) -> list[dict[str, Any]]:
    where = audit.EventFilter(subjects=scope.subjects, since=sel.since, until=sel.until)
    return [_audit_record(r) for r in audit.events(conn, where)]


def _record(
    kind: str, rid: Any, at: Any, actor: str, action: str, subject: str, data: Any
) -> dict[str, Any]:
    text = mask_log_text(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str))
    return {
        "record": kind,
        "id": rid,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "data": text,
        "prev_hash": "",
        "hash": "",
    }


def _consent_records(conn: Connection, cid: int) -> Iterator[dict[str, Any]]:
    subject = f"customer#{cid}"
    for c in consent.consent_rows(conn, cid):
        data = {
            "channel": c["channel"] or "all",
            "purpose": c["purpose"] or "all",
            "written": c["written"],
            "source": c["source"],
            "evidence": c["evidence"],
        }
        yield _record("consent", c["id"], c["at"], c["actor"], c["action"], subject, data)
    for s in consent.suppression_rows(conn, cid):
        kept = "keyed hash" if s["phone_hash"] else "number"
        data = {"reason": s["reason"], "number_kept_as": kept}
        yield _record("suppression", s["id"], s["at"], "", "suppressed", subject, data)


def _notification_records(conn: Connection, note_ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    for n in reports.notifications_by_ids(conn, note_ids):
        data = {
            **{k: n[k] for k in ("kind", "purpose", "status", "campaign_id", "payload")},
            "decisions": [readable(d) for d in n["decisions"]],
        }
        subject = f"notification#{n['id']}"
        yield _record("decision", n["id"], n["created_at"], n["source"], n["kind"], subject, data)


def _delivery_records(conn: Connection, delivery_ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    for d in reports.deliveries_by_ids(conn, delivery_ids):
        subject, detail = f"delivery#{d['id']}", dict(d["detail"] or {})
        data = {
            "notification": d["notification_id"],
            **{k: d[k] for k in ("channel", "rung", "status", "outcome", "attempts", "due_at")},
            "provider_ref": d["provider_ref"],
            "detail": detail,
        }
        what = d["outcome"] or d["status"]
        yield _record("delivery", d["id"], d["updated_at"], "", what, subject, data)
        if detail.get("transcript") or detail.get("intent"):
            said = {k: detail.get(k) for k in ("intent", "transcript", "confidence", "dtmf")}
            yield _record("transcript", d["id"], d["updated_at"], "", "call", subject, said)


def _receipt_records(conn: Connection, delivery_ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    for r in reports.provider_receipts(conn, delivery_ids):
        data = {k: r[k] for k in ("channel", "ref", "outcome", "detail")}
        subject, at = f"delivery#{r['delivery_id']}", r["created_at"]
        yield _record("receipt", r["ref"], at, "provider", r["outcome"] or "", subject, data)
    for p in reports.push_receipt_rows(conn, delivery_ids):
        status = "opened" if p["opened_at"] else "delivered" if p["delivered_at"] else "none"
        data = {"delivered_at": p["delivered_at"], "opened_at": p["opened_at"]}
        subject = f"delivery#{p['delivery_id']}"
        yield _record("receipt", p["delivery_id"], p["updated_at"], "app", status, subject, data)


def records(conn: Connection, sel: Selection, key: bytes | None = None) -> list[dict[str, Any]]:
    """The export's records: audit rows in chain order; for one customer, first their consent
    ledger, decisions, deliveries, receipts and transcripts. A forgotten customer: the erasure
    record only."""
    scope = _scope(conn, sel, key)
    if scope.erased and scope.customer_id is not None:
        return [_audit_record(e) for e in erasure_events(conn, scope.customer_id)]
    out: list[dict[str, Any]] = []
    if scope.customer_id is not None:
        bundle: Iterable[dict[str, Any]] = [
            *_consent_records(conn, scope.customer_id),
            *_notification_records(conn, scope.note_ids),
            *_delivery_records(conn, scope.delivery_ids),
            *_receipt_records(conn, scope.delivery_ids),
        ]
        out += [r for r in bundle if _within(r["at"], sel)]
    return out + _audit_rows(conn, scope, sel)


def _within(at: datetime | None, sel: Selection) -> bool:
    if at is None:
        return sel.since is None and sel.until is None
    return (sel.since is None or at >= sel.since) and (sel.until is None or at < sel.until)


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a quote."""
    text = value.isoformat() if isinstance(value, datetime) else "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def write(rows: Iterable[dict[str, Any]], fmt: Format, out: TextIO) -> int:
    """Write the records; returns how many."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(RECORD_FIELDS)
        for row in rows:
            writer.writerow([safe_cell(row[f]) for f in RECORD_FIELDS])
            n += 1
        return n
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=_iso) + "\n")
        n += 1
    return n


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def checkpoint_summary(conn: Connection, path: Path) -> dict[str, Any]:
    """A checkpoint file's hash and content; when it names a ``seq`` and ``hash``, whether the
    chain still has that hash at that seq."""
    raw = path.read_bytes()
    summary: dict[str, Any] = {"path": str(path), "sha256": hashlib.sha256(raw).hexdigest()}
    try:
        content: Any = json.loads(raw)
    except ValueError:
        summary["content"] = raw.decode("utf-8", "replace")[:4000]
        return summary
    summary["content"] = content
    if isinstance(content, dict) and {"seq", "hash"} <= set(content):
        summary["matches_chain"] = audit.hash_at(conn, int(content["seq"])) == content["hash"]
    return summary


def manifest(
    conn: Connection,
    sel: Selection,
    fmt: Format,
    rows: Sequence[dict[str, Any]],
    *,
    now: datetime,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """What an export holds and what it verifies against (the file's sha256 is added by the
    writer of the file)."""
    head_seq, head_hash = audit.chain_head(conn)
    check = audit.verify(conn)
    by_record: dict[str, int] = {}
    for r in rows:
        by_record[r["record"]] = by_record.get(r["record"], 0) + 1
    audit_rows = [r for r in rows if r["record"] == "audit"]
    return {
        "generated_at": now.isoformat(),
        "selection": sel.describe(),
        "format": fmt,
        "rows": len(rows),
        "rows_by_record": by_record,
        "audit_seq_range": [audit_rows[0]["id"], audit_rows[-1]["id"]] if audit_rows else None,
        "chain": {
            "head_seq": head_seq,
            "head_hash": head_hash,
            "verified": check.ok,
            "checked": check.checked,
            "problem": check.problem,
            "rule": "hash = sha256(prev_hash + canonical row); data is the canonical JSON hashed",
        },
        "checkpoint": checkpoint_summary(conn, checkpoint) if checkpoint else None,
    }


def export_text(
    conn: Connection,
    sel: Selection,
    fmt: Format,
    *,
    now: datetime,
    key: bytes | None = None,
    checkpoint: Path | None = None,
) -> tuple[str, dict[str, Any]]:
    """The export as text and its manifest (what the console offers for download)."""
    rows = records(conn, sel, key)
    buffer = io.StringIO(newline="")
    write(rows, fmt, buffer)
    text = buffer.getvalue()
    meta = manifest(conn, sel, fmt, rows, now=now, checkpoint=checkpoint)
    meta["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text, meta


def export_file(
    conn: Connection,
    sel: Selection,
    fmt: Format,
    path: Path,
    *,
    now: datetime,
    key: bytes | None = None,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Write ``path`` and ``path.manifest.json`` (via temporary files: never half-written)."""
    text, meta = export_text(conn, sel, fmt, now=now, key=key, checkpoint=checkpoint)
    meta["file"] = path.name
    target = manifest_path(path)
    for dest, body in ((path, text), (target, manifest_text(meta))):
        partial = dest.with_name(dest.name + ".partial")
        partial.write_text(body, encoding="utf-8", newline="")
        partial.replace(dest)
    return meta


def manifest_text(meta: dict[str, Any]) -> str:
    """The manifest file's text (what ``export_file`` writes beside the export)."""
    return json.dumps(meta, indent=2, default=_iso) + "\n"


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")
