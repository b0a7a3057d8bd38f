"""Benchmark 2: dispatch throughput to the embedded log channel on SQLite, 1 and 2 threads.

M renewal notifications (one per customer, so no frequency cap defers anything) are fanned
out once into a template file; each thread count works its own copy of it, with Dispatchers
built by ``outbound.bootstrap.app`` (batch size, lease, ladder from config/outbound.toml) running
``Dispatcher.run(until_idle=True)`` on the real system clock, one Dispatcher per thread as
``outbound serve`` does.

Lag definition: every delivery is due no later than the moment the workers start (``t0``),
so the due→sent lag of a delivery is ``log_sends.at − max(deliveries.due_at, t0)`` — the time
from "may be sent" to the log channel's send (its clock reading inside ``LogChannel.send``).
For a burst of M due at once that is mostly queueing behind the backlog: p50 ≈ half the
drain time. The service time of one delivery, claim→sent (the ``delivery.decided`` audit
event's time, taken at the start of its claim batch, to its send), is reported too.
"""

from __future__ import annotations

import cProfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from benchmarks.common import (
    Place,
    Stopwatch,
    build_app,
    checkpoint,
    copy_db,
    fresh_engine,
    percentile,
    seed_customers,
)
from benchmarks.fanout import CAMPAIGN
from benchmarks.legacy_render import LegacyRenderer
from outbound import bootstrap
from outbound.services.campaigns import runs as campaigns
from outbound.services.send.dispatch import Dispatcher
from outbound.store.db import make_engine
from outbound.store.tables import audit_events, deliveries, log_sends


@dataclass
class DispatchResult:
    threads: int
    deliveries: int
    seconds: float
    sent: int
    deliveries_per_second: float
    lag_p50_seconds: float
    lag_p99_seconds: float
    lag_max_seconds: float
    service_p50_seconds: float
    service_p99_seconds: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    profiled: bool = False
    renderer: str = "files"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare(
    workdir: Path, count: int, now: datetime, places: list[Place], say: Callable[[str], None]
) -> Path:
    """A template database with ``count`` queued deliveries due at ``now``."""
    path = workdir / "dispatch-template.db"
    engine = fresh_engine(path)
    app = build_app(path, engine)
    say(f"dispatch: preparing {count:,} due deliveries in {path} …")
    fill(engine, app, count, now, places, say)
    checkpoint(engine)
    return path


def fill(
    engine: Engine,
    app: bootstrap.App,
    count: int,
    now: datetime,
    places: list[Place],
    say: Callable[[str], None],
) -> int:
    """``count`` customers and a renewal campaign fanned out to them, all due at ``now``, in a
    migrated database on any engine; returns how many deliveries are due."""
    seed_customers(engine, count, now, places)
    with engine.begin() as conn:
        cid = campaigns.create(conn, CAMPAIGN, now=now, actor="bench")
    report = campaigns.run(
        engine, cid, replace(app.send_context(), clock=lambda: now), actor="bench"
    )
    with engine.connect() as conn:
        due = int(
            conn.execute(
                select(func.count())
                .select_from(deliveries)
                .where(deliveries.c.status == "queued", deliveries.c.due_at <= now)
            ).scalar_one()
        )
    if due != report.created:
        say(f"dispatch: warning: {report.created - due:,} of {report.created:,} are not due now")
    return due


def _work(dispatcher: Dispatcher, stop: threading.Event, profile: cProfile.Profile | None) -> None:
    if profile is None:
        dispatcher.run(stop, 0.05, True)
    else:
        profile.runcall(dispatcher.run, stop, 0.05, True)


def run(
    template: Path,
    workdir: Path,
    threads: int,
    *,
    profiles: list[cProfile.Profile] | None = None,
    renderer: str = "files",
) -> DispatchResult:
    """``renderer``: ``files`` (templates/, Babel, evidence recorded) or ``legacy`` (the
    Python-dict texts before issue 19: the peer measured in the same run)."""
    path = workdir / f"dispatch-{threads}-{renderer}.db"
    copy_db(template, path)
    engine = make_engine(f"sqlite:///{path}")
    app = build_app(path, engine)
    # the embedded log sink on every channel, whatever adapters the config selects
    workers = [app.dispatcher(app.log_channels()) for _ in range(threads)]
    if renderer == "legacy":
        for w in workers:
            w.renderer = LegacyRenderer(app.rules, app.messaging(), app.settings.brand.name)
    own = [cProfile.Profile() if profiles is not None else None for _ in workers]
    stop = threading.Event()
    pool = [
        threading.Thread(target=_work, args=(w, stop, p), name=f"bench-worker-{i}")
        for i, (w, p) in enumerate(zip(workers, own, strict=True))
    ]
    t0 = datetime.now(UTC)
    with Stopwatch() as sw:
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if profiles is not None:
        profiles.extend(p for p in own if p is not None)

    with engine.connect() as conn:
        due = dict(conn.execute(select(deliveries.c.id, deliveries.c.due_at)).tuples().all())
        sent = {
            int(key.removeprefix("delivery-")): at
            for key, at in conn.execute(select(log_sends.c.idempotency_key, log_sends.c.at))
        }
        claimed: dict[int, datetime] = {}
        for subject, at in conn.execute(
            select(audit_events.c.subject, audit_events.c.at)
            .where(audit_events.c.action == "delivery.decided")
            .order_by(audit_events.c.seq)
        ):
            claimed.setdefault(int(subject.removeprefix("delivery#")), at)
        statuses = {
            str(s): int(n)
            for s, n in conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            )
        }
    engine.dispose()
    lags = [(at - max(due[d], t0)).total_seconds() for d, at in sent.items()]
    service = [(at - claimed[d]).total_seconds() for d, at in sent.items() if d in claimed]
    return DispatchResult(
        threads=threads,
        deliveries=len(due),
        seconds=round(sw.seconds, 3),
        sent=len(sent),
        deliveries_per_second=round(len(sent) / sw.seconds, 1),
        lag_p50_seconds=round(percentile(lags, 50), 3),
        lag_p99_seconds=round(percentile(lags, 99), 3),
        lag_max_seconds=round(max(lags, default=float("nan")), 3),
        service_p50_seconds=round(percentile(service, 50), 4),
        service_p99_seconds=round(percentile(service, 99), 4),
        statuses=statuses,
        errors=sum(w.stats.errors for w in workers),
        profiled=profiles is not None,
        renderer=renderer,
    )


def render_cost(app: bootstrap.App, messages: int = 20_000, rounds: int = 5) -> dict[str, float]:
    """Microseconds per message of each renderer on the benchmark's renewal SMS, interleaved
    (legacy, files, legacy, …) in one process: the CPU the template files add per delivery,
    steadier on a busy machine than two dispatch runs a minute apart. Best round of each."""
    from outbound.domain.values import Channel, Kind

    payload = {"tier": "gold", "expires_on": "2026-12-20", "renew_url": "https://shop.example/r"}
    files = app.renderer()
    legacy = LegacyRenderer(app.rules, app.messaging(), app.settings.brand.name)
    best = {"legacy": float("inf"), "files": float("inf")}
    for _ in range(rounds):
        for name, renderer in (("legacy", legacy), ("files", files)):
            with Stopwatch() as sw:
                for _ in range(messages):
                    renderer.render(Kind.RENEWAL, Channel.SMS, "en-US", "US", payload)
            best[name] = min(best[name], sw.seconds / messages * 1e6)
    return {k: round(v, 2) for k, v in best.items()}
