"""Benchmark 1: campaign fan-out on SQLite, against a raw Core insert of as many rows.

Fan-out time is ``outbound.services.campaigns.runs.run`` of a renewal campaign over every customer: segment
query, payload validation, snapshots, the policy decision per customer, the notification and
delivery inserts and the hash-chained audit events, one transaction per 1,000 customers.

Raw time is a plain SQLAlchemy Core ``executemany`` of the same number of rows into a scratch
table with the columns, unique key, index and foreign keys of ``notifications``, in chunks of
1,000 rows per transaction (``BEGIN IMMEDIATE``, as the fan-out's), in the same file and run.
Each raw row carries the payload and the decision record of a real fan-out row, so the JSON
written per row is the same size. Ratio = raw / fan-out (1.0 = as fast as a bare insert).
"""

from __future__ import annotations

import cProfile
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)

from benchmarks.common import (
    Place,
    Stopwatch,
    build_app,
    checkpoint,
    count_rows,
    fresh_engine,
    seed_customers,
)
from outbound.domain.values import Kind
from outbound.services.campaigns import runs as campaigns
from outbound.store.tables import Id, deliveries, notifications

RAW_CHUNK = 1000  # rows per transaction, as campaigns.CHUNK
CAMPAIGN = campaigns.CampaignSpec(
    name="bench-renewals-14d",
    kind=Kind.RENEWAL,
    schedule="0 10 * * *",
    timezone="UTC",
    segment={"expires_within_days": 14},
    params={"renew_url": "https://shop.example/renew?c={external_id}"},
)


@dataclass
class FanoutResult:
    customers: int
    seed_seconds: float
    fanout_seconds: float
    raw_seconds: float
    ratio: float
    customers_per_second: float
    raw_rows_per_second: float
    selected: int
    created: int
    deliveries: int
    deferred: int
    suppressed: int
    channels: dict[str, int] = field(default_factory=dict)
    audit_events: int = 0
    db_megabytes: float = 0.0
    profiled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scratch_table(metadata: MetaData) -> Table:
    """A table shaped like ``notifications`` (same columns, keys and index), for the raw insert."""
    columns = []
    for col in notifications.columns:
        fks = [ForeignKey(fk.column, ondelete=fk.ondelete) for fk in col.foreign_keys]
        columns.append(
            Column(
                col.name,
                Id if col.primary_key else col.type,
                *fks,
                primary_key=col.primary_key,
                autoincrement=True if col.primary_key else "auto",
                nullable=col.nullable,
            )
        )
    return Table(
        "bench_raw_notifications",
        metadata,
        *columns,
        UniqueConstraint("dedupe_key", name="uq_bench_raw_notifications_dedupe_key"),
        Index("ix_bench_raw_notifications_customer_id", "customer_id"),
    )


def raw_insert(engine: Engine, count: int, sample: Any) -> float:
    """Seconds to insert ``count`` notification-shaped rows with Core executemany."""
    metadata = MetaData()
    table = scratch_table(metadata)
    metadata.create_all(engine)
    with Stopwatch() as sw:
        for start in range(0, count, RAW_CHUNK):
            rows = [
                {
                    "kind": sample.kind,
                    "purpose": sample.purpose,
                    "customer_id": cid,
                    "payload": {
                        **sample.payload,
                        "renew_url": f"https://shop.example/renew?c=B{cid:08d}",
                    },
                    "dedupe_key": f"renewal:{cid}:{sample.payload['expires_on']}",
                    "campaign_id": sample.campaign_id,
                    "source": sample.source,
                    "status": sample.status,
                    "created_at": sample.created_at,
                    "expires_at": sample.expires_at,
                    "decisions": sample.decisions,
                }
                for cid in range(start + 1, min(start + RAW_CHUNK, count) + 1)
            ]
            with engine.begin() as conn:
                conn.execute(insert(table), rows)
    return sw.seconds


def run(
    workdir: Path,
    count: int,
    now: datetime,
    places: list[Place],
    *,
    profile: cProfile.Profile | None = None,
    say: Callable[[str], None] = print,
) -> FanoutResult:
    path = workdir / "fanout.db"
    engine = fresh_engine(path)
    app = build_app(path, engine)
    say(f"fan-out: seeding {count:,} customers into {path} …")
    with Stopwatch() as seed:
        seed_customers(engine, count, now, places)
    checkpoint(engine)
    with engine.begin() as conn:
        cid = campaigns.create(conn, CAMPAIGN, now=now, actor="bench")
    say(f"fan-out: seeded in {seed.seconds:.1f}s; running the campaign …")

    step = max(count // 10, 1)
    done = [0]

    def progress(n: int) -> None:
        before, done[0] = done[0], done[0] + n
        if before // step != done[0] // step:
            print(f"  fan-out {done[0]:,}/{count:,}", file=sys.stderr, flush=True)

    send = replace(app.send_context(), clock=lambda: now)
    run_args: dict[str, Any] = {"actor": "bench", "progress": progress}
    with Stopwatch() as fan:
        if profile is not None:
            report = profile.runcall(campaigns.run, engine, cid, send, **run_args)
        else:
            report = campaigns.run(engine, cid, send, **run_args)
    say(f"fan-out: {report.created:,} notifications in {fan.seconds:.1f}s; raw insert …")

    with engine.connect() as conn:
        sample = conn.execute(select(notifications).order_by(notifications.c.id).limit(1)).one()
        channels = {
            str(ch): int(n)
            for ch, n in conn.execute(
                select(deliveries.c.channel, func.count()).group_by(deliveries.c.channel)
            )
        }
        deferred = int(
            conn.execute(
                select(func.count()).select_from(deliveries).where(deliveries.c.due_at > now)
            ).scalar_one()
        )
        suppressed = int(
            conn.execute(
                select(func.count())
                .select_from(notifications)
                .where(notifications.c.status != "pending")
            ).scalar_one()
        )
    checkpoint(engine)
    raw_seconds = raw_insert(engine, count, sample)
    result = FanoutResult(
        customers=count,
        seed_seconds=round(seed.seconds, 3),
        fanout_seconds=round(fan.seconds, 3),
        raw_seconds=round(raw_seconds, 3),
        ratio=round(raw_seconds / fan.seconds, 4),
        customers_per_second=round(count / fan.seconds, 1),
        raw_rows_per_second=round(count / raw_seconds, 1),
        selected=report.selected,
        created=report.created,
        deliveries=sum(channels.values()),
        deferred=deferred,
        suppressed=suppressed,
        channels=channels,
        audit_events=count_rows(engine, "audit_events"),
        profiled=profile is not None,
    )
    checkpoint(engine)
    result.db_megabytes = round(path.stat().st_size / 1e6, 1)
    return result
