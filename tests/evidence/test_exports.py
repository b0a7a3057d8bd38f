"""``audit export``: the files hold what the database holds, and a manifest ties them to the
chain; CSV cells cannot run as formulas; a forgotten customer exports the erasure record only."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from outbound import bootstrap
from outbound.services.people.erasure import forget
from outbound.services.views.evidence import Selection, export_file, export_text, manifest_path
from outbound.store.tables import audit_events, audit_head, consents, deliveries, notifications
from tests.conftest import FrozenClock
from tests.evidence.conftest import (
    EXPIRES,
    TRANSCRIPT,
    AppFactory,
    called,
    customer,
    grant,
    keyed,
    pushed,
    renewal_campaign,
)
from tests.integration.helpers import BERLIN, NY


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _export(app: bootstrap.App, sel: Selection, fmt: str = "jsonl") -> tuple[str, dict[str, Any]]:
    with app.engine.begin() as conn:
        return export_text(conn, sel, fmt, now=app.clock(), key=app.erasure_key())  # type: ignore[arg-type]


def _audit_of(app: bootstrap.App, subjects: set[str]) -> list[tuple[int, str]]:
    with app.engine.begin() as conn:
        rows = conn.execute(select(audit_events.c.seq, audit_events.c.subject, audit_events.c.hash))
        return sorted((r.seq, r.hash) for r in rows if r.subject in subjects)


def test_customer_export_bundles_consent_decisions_deliveries_receipts_and_transcript(
    make_app: AppFactory,
) -> None:
    app = keyed(make_app)
    cid = customer(app, "C1001", NY, preference="voice>push>sms", push_token="tok-" + "x" * 40)
    other = customer(app, "C2", BERLIN)
    grant(app, cid, "web form v3")
    grant(app, other, "not this one")
    called(app, cid)
    note = pushed(app, cid)
    text, meta = _export(app, Selection(customer="C1001"))
    rows = _jsonl(text)

    with app.engine.begin() as conn:
        ledger = conn.execute(select(consents).where(consents.c.customer_id == cid)).all()
        notes = conn.execute(select(notifications.c.id).where(notifications.c.customer_id == cid))
        note_ids = sorted(notes.scalars())
        dids = sorted(
            conn.execute(
                select(deliveries.c.id).where(deliveries.c.notification_id.in_(note_ids))
            ).scalars()
        )
    kinds = [r["record"] for r in rows]
    assert [json.loads(r["data"])["evidence"] for r in rows if r["record"] == "consent"] == [
        c.evidence for c in ledger
    ]
    assert sorted(r["id"] for r in rows if r["record"] == "decision") == note_ids
    assert sorted(r["id"] for r in rows if r["record"] == "delivery") == dids
    (said,) = [json.loads(r["data"]) for r in rows if r["record"] == "transcript"]
    assert said["transcript"] == TRANSCRIPT and said["intent"] == "confirm"
    (receipt,) = [r for r in rows if r["record"] == "receipt"]
    assert receipt["action"] == "opened" and note in note_ids
    subjects = {f"customer#{cid}", "customer:C1001"}
    subjects |= {f"notification#{n}" for n in note_ids} | {f"delivery#{d}" for d in dids}
    exported = [(r["id"], r["hash"]) for r in rows if r["record"] == "audit"]
    assert exported == _audit_of(app, subjects)
    assert "not this one" not in text and NY not in text
    assert meta["rows"] == len(rows) and meta["rows_by_record"]["audit"] == len(exported)
    assert kinds.count("consent") == len(ledger)


def test_manifest_names_the_chain_head_and_the_files_hash(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = keyed(make_app)
    cid = customer(app, "C1001", NY)
    grant(app, cid, "web form v3")
    checkpoint = tmp_path / "checkpoint.json"
    with app.engine.begin() as conn:
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    checkpoint.write_text(json.dumps({"seq": head.seq, "hash": head.hash}))
    out = tmp_path / "c1001.jsonl"
    with app.engine.begin() as conn:
        export_file(
            conn, Selection(customer="C1001"), "jsonl", out, now=app.clock(), checkpoint=checkpoint
        )
    meta = json.loads(manifest_path(out).read_text())
    assert meta["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert meta["rows"] == len(out.read_text().splitlines())
    assert (meta["chain"]["head_seq"], meta["chain"]["head_hash"]) == (head.seq, head.hash)
    assert meta["chain"]["verified"] is True
    assert meta["checkpoint"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert meta["checkpoint"]["matches_chain"] is True
    assert not list(tmp_path.glob("*.partial"))


def test_csv_export_neutralises_formula_cells(make_app: AppFactory) -> None:
    app = keyed(make_app)
    cid = customer(app, "C1001", NY)
    grant(app, cid, '=HYPERLINK("https://evil.example","click")')
    text, _ = _export(app, Selection(customer="C1001"), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    (consent,) = [r for r in rows if r["record"] == "consent"]
    assert "=HYPERLINK" in consent["data"]  # kept, but inside JSON text
    cells = [cell for r in rows for cell in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    text_only, _ = _export(app, Selection(customer="C1001"), "csv")
    assert text_only == text  # the same export twice is the same bytes


def test_campaign_export_holds_exactly_its_events(make_app: AppFactory) -> None:
    app = keyed(make_app)
    for i, ext in enumerate(("C1", "C2")):
        customer(
            app,
            ext,
            f"+1212555012{i}",
            preference="sms",
            membership_tier="gold",
            membership_expires_on=EXPIRES,
        )
    camp = renewal_campaign(app, "renewals")
    text, meta = _export(app, Selection(campaign="renewals"))
    with app.engine.begin() as conn:
        note_ids = list(
            conn.execute(
                select(notifications.c.id).where(notifications.c.campaign_id == camp)
            ).scalars()
        )
        dids = list(
            conn.execute(
                select(deliveries.c.id).where(deliveries.c.notification_id.in_(note_ids))
            ).scalars()
        )
    assert len(note_ids) == 2
    subjects = {f"campaign#{camp}"} | {f"notification#{n}" for n in note_ids}
    subjects |= {f"delivery#{d}" for d in dids}
    assert [(r["id"], r["hash"]) for r in _jsonl(text)] == _audit_of(app, subjects)
    assert meta["selection"]["campaign"] == "renewals"


def test_time_range_export_keeps_events_from_since_to_before_until(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = keyed(make_app)
    cid = customer(app, "C1", NY)
    start = clock.current
    clock.advance(hours=1)
    grant(app, cid, "second")
    clock.advance(hours=1)
    grant(app, cid, "third")
    sel = Selection(since=start + timedelta(minutes=30), until=start + timedelta(hours=2))
    rows = _jsonl(_export(app, sel)[0])
    assert [json.loads(r["data"])["evidence"] for r in rows] == ["second"]


def test_forgotten_customer_exports_the_erasure_record_only(make_app: AppFactory) -> None:
    app = keyed(make_app)
    cid = customer(app, "C1001", NY, preference="voice")
    grant(app, cid, "web form v3")
    called(app, cid)
    with app.engine.begin() as conn:
        done = forget(
            conn,
            "C1001",
            key=app.erasure_key() or b"",
            reason="request 9",
            actor="dpo",
            now=app.clock(),
        )
    text, meta = _export(app, Selection(customer="C1001"))
    (row,) = _jsonl(text)
    assert list(row) == [
        "record",
        "id",
        "at",
        "actor",
        "action",
        "subject",
        "data",
        "prev_hash",
        "hash",
        "mac",
    ]
    assert (row["record"], row["action"], row["id"]) == ("audit", "customer.erased", done.audit_seq)
    assert json.loads(row["data"])["reason"] == "request 9"
    assert meta["rows"] == 1 and meta["chain"]["verified"] is True
