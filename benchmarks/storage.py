"""Bytes per notification and the policy's cost per decision (issue 9, item 4: a compact trace).

``python -m benchmarks.storage [--customers 20000] [--decisions 3000] [--rounds 5]``

Storage: a renewal campaign fanned out over N customers on a fresh SQLite file (as
``benchmarks/fanout.py``, but on a fixed clock so runs compare), then ``VACUUM``; reported as
the file size / notifications, and — from SQLite's ``dbstat`` — the bytes of the rows a
notification causes (``notifications``, ``deliveries``, ``audit_events`` and their indexes)
per notification, per table and index, and the stored length of each of their columns.

Policy cost: ``decide`` over the snapshots of the first ``--decisions`` customers, and
``decide`` plus the stored record (``decision_record`` + ``decision_summary`` + ``pack`` + JSON
encoding, what the fan-out writes), best of ``--rounds``; microseconds per decision.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS_DIR,
    build_app,
    checkpoint,
    fresh_engine,
    open_places,
    seed_customers,
)
from benchmarks.fanout import CAMPAIGN
from outbound.domain.records import decision_record, decision_summary, pack
from outbound.domain.values import Kind, Purpose
from outbound.policy import decide
from outbound.policy.model import NotificationView
from outbound.services.campaigns import runs as campaigns
from outbound.services.send.snapshots import load_snapshots
from outbound.store.db import make_engine

#: Fixed so that runs of different code compare: 15:00 UTC, inside 10:00-17:00 in London,
#: Berlin, São Paulo and New York.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CAUSED = ("notifications", "deliveries", "audit_events")


def _object_bytes(path: Path) -> list[tuple[str, str, int]]:
    """(table, table or index, bytes) from dbstat page sizes (after VACUUM)."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT s.tbl_name, s.name, sum(d.pgsize) FROM dbstat d "
            "JOIN sqlite_schema s ON s.name = d.name GROUP BY s.name"
        ).fetchall()
    finally:
        con.close()
    return [(str(t), str(n), int(size)) for t, n, size in rows]


def _column_bytes(path: Path, created: int) -> dict[str, float]:
    """Mean stored length of every column of the rows a notification causes, per notification."""
    con = sqlite3.connect(path)
    out = {}
    try:
        for table in CAUSED:
            for col in [r[1] for r in con.execute(f"PRAGMA table_info({table})")]:
                (total,) = con.execute(f"SELECT sum(length({col})) FROM {table}").fetchone()
                out[f"{table}.{col}"] = round((total or 0) / created, 1)
    finally:
        con.close()
    return out


def _vacuum(path: Path) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("VACUUM")
    finally:
        con.close()


def storage(workdir: Path, count: int) -> dict[str, Any]:
    path = workdir / "storage.db"
    engine = fresh_engine(path)
    app = build_app(path, engine)
    seed_customers(engine, count, NOW, open_places(NOW))
    with engine.begin() as conn:
        cid = campaigns.create(conn, CAMPAIGN, now=NOW, actor="bench")
    report = campaigns.run(
        engine, cid, replace(app.send_context(), clock=lambda: NOW), actor="bench"
    )
    checkpoint(engine)
    _vacuum(path)
    created = report.created
    objects = [(t, n, size) for t, n, size in _object_bytes(path) if t in CAUSED]
    return {
        "customers": count,
        "notifications": created,
        "file_bytes": path.stat().st_size,
        "file_bytes_per_notification": round(path.stat().st_size / created),
        "caused_bytes_per_notification": round(sum(o[2] for o in objects) / created),
        "per_table_bytes_per_notification": {
            t: round(sum(o[2] for o in objects if o[0] == t) / created) for t in CAUSED
        },
        "per_object_bytes_per_notification": {n: round(size / created) for _, n, size in objects},
        "column_bytes_per_notification": _column_bytes(path, created),
        "_engine_path": str(path),
    }


def policy_cost(path: Path, sample: int, rounds: int) -> dict[str, float]:
    app = build_app(path, make_engine(f"sqlite:///{path}"))
    with app.engine.connect() as conn:
        snaps = load_snapshots(conn, list(range(1, sample + 1)), NOW)
    view = NotificationView(Kind.RENEWAL, Purpose.SERVICE, NOW + timedelta(days=3), None)
    items = list(snaps.values())

    def decide_only() -> None:
        for snap in items:
            decide(view, snap, app.rules)

    def decide_and_store() -> None:
        for snap in items:
            record = decision_record(decide(view, snap, app.rules), NOW, 0)
            json.dumps(pack(record), separators=(",", ":"))
            json.dumps(decision_summary(record), separators=(",", ":"))

    out = {}
    for name, fn in (("decide", decide_only), ("decide_and_record", decide_and_store)):
        best = min(_timed(fn) for _ in range(rounds))
        out[f"{name}_us"] = round(best / len(items) * 1e6, 1)
    return out


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--decisions", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "storage.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbound-storage-") as tmp:
        result = storage(Path(tmp), args.customers)
        path = Path(result.pop("_engine_path"))
        result.update(policy_cost(path, args.decisions, args.rounds))
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
