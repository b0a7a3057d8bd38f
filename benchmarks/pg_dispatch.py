"""PostgreSQL dispatch: the same backlog drained by one, then two real worker processes.

``python -m benchmarks.pg_dispatch [--deliveries 10000] [--workers 1,2] [--repeat 3] [--profile]``

A throwaway cluster (``outbound.testing.postgres``, the tests' settings: ``fsync=off``, loopback,
with ``pg_stat_statements`` preloaded when the server has it) gets a template database: migrated
with ``outbound.store.db.upgrade``, N customers seeded and a renewal campaign fanned out so N
deliveries are due now (``benchmarks.dispatch.fill``). Each run copies the template
(``CREATE DATABASE … TEMPLATE``) and starts ``outbound serve --role worker --until-idle
--threads 1`` processes with ``OUTBOUND_DATABASE_URL`` and the log sink on every channel. The
workers boot, then block on a ``LOCK TABLE deliveries`` the benchmark holds until every one of
them waits for it, so start-up is not timed. deliveries/s = sends / the drain time, from that
release to the last recorded outcome (the greatest ``deliveries.updated_at``); the time until
the last process has exited is reported beside it (it adds ``--until-idle``'s idle checks, up to
a poll interval or two, and the interpreter's exit). With ``--repeat`` the order of the worker
counts alternates between rounds, and each round's two/one ratio is reported. Each run is checked: every delivery sent exactly once (``log_sends`` rows =
deliveries, one per idempotency key, one claim and one outcome event per delivery, the audit
chain intact). The cluster is stopped and removed at the end, also on error.

Where the time goes: ``benchmarks.pg_probe`` samples ``pg_stat_activity`` and CPU while it
runs, ``pg_stat_statements`` gives the statements' times; ``--profile`` adds a py-spy profile of
each worker process (with idle time, so waiting for PostgreSQL shows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text

from benchmarks import pg_probe, pg_profile, pg_report
from benchmarks.common import CONFIG_DIR, RESULTS_DIR, ROOT, Place, open_places, settings_for_url
from benchmarks.dispatch import fill
from outbound import bootstrap
from outbound.store import audit
from outbound.store.db import make_engine, upgrade
from outbound.store.tables import audit_events, deliveries, log_sends
from outbound.testing.postgres import PgCluster, pg_bindir, start_cluster

Say = Callable[[str], None]


@dataclass
class PgRun:
    workers: int
    deliveries: int
    drain_seconds: float  # gate release → last outcome recorded (max deliveries.updated_at)
    deliveries_per_second: float  # sent / drain_seconds
    exit_seconds: float  # gate release → last worker process exited (--until-idle's idle wait)
    sent: int
    exactly_once: bool
    problems: list[str] = field(default_factory=list)
    per_worker: dict[str, int] = field(default_factory=dict)  # deliveries per lease owner
    loadavg: float = 0.0  # 1-minute load average when the run started
    machine_busy_percent: float = 0.0  # all CPUs, everyone's work, during the run
    batch_ms: float = 0.0  # mean wall time of one batch in one worker
    cpu_ms_per_delivery: float = 0.0  # workers + their PostgreSQL backends
    cores_used: float = 0.0  # their CPU seconds / drain seconds
    statements_per_delivery: float = 0.0
    db_ms_per_delivery: float = 0.0  # execution time inside PostgreSQL
    audit_wait_ms_per_batch: float = 0.0  # SELECT … FOR UPDATE of audit_head, both appends
    probe: dict[str, Any] = field(default_factory=dict)
    statements: list[dict[str, Any]] = field(default_factory=list)
    profile: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def derive(self, batch_size: int, totals: dict[str, float]) -> None:
        """The per-batch and per-delivery figures, from the measured ones."""
        n = max(self.sent, 1)
        batches = sum(math.ceil(c / batch_size) for c in self.per_worker.values()) or 1
        self.batch_ms = round(1000 * self.drain_seconds * self.workers / batches, 1)
        cpu = sum(self.probe["worker_cpu_seconds"]) + self.probe["backend_cpu_seconds"]
        self.cpu_ms_per_delivery = round(1000 * cpu / n, 3)
        self.cores_used = round(cpu / max(self.drain_seconds, 0.001), 2)
        self.statements_per_delivery = round(totals.get("calls", 0) / n, 2)
        self.db_ms_per_delivery = round(totals.get("total_ms", 0.0) / n, 3)
        head = next((s for s in self.statements if s["statement"] == "audit head lock"), None)
        self.audit_wait_ms_per_batch = round(head["total_ms"] / batches, 2) if head else 0.0


def _pg_settings() -> dict[str, str]:
    bindir = pg_bindir()
    if bindir is not None and (bindir.parent / "lib" / "pg_stat_statements.so").exists():
        return {"shared_preload_libraries": "pg_stat_statements"}
    return {}


def prepare(cluster: PgCluster, count: int, now: datetime, places: list[Place], say: Say) -> str:
    """The template database (its name): migrated, ``count`` deliveries due at ``now``."""
    url = cluster.new_database()
    name = url.rsplit("/", 1)[1]
    say(f"pg-dispatch: preparing {count:,} due deliveries in database {name} …")
    engine = make_engine(url)
    try:
        upgrade(engine)
        app = bootstrap.build(settings_for_url(url), engine=engine)
        fill(engine, app, count, now, places, say)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # every copy starts with planner statistics
    finally:
        engine.dispose()
    return name


def _worker_env(url: str) -> dict[str, str]:
    """No inherited OUTBOUND_* setting; the log sink on every channel, whatever the config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env.update(
        OUTBOUND_DATABASE_URL=url,
        OUTBOUND_SMS_ADAPTER="log",
        OUTBOUND_PUSH_ADAPTER="log",
        OUTBOUND_VOICE_DIALERS="0",  # voice goes to the log sink too
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    return env


def _start_workers(url: str, n: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "outbound", "--config-dir", str(CONFIG_DIR), "serve"]
    command += ["--role", "worker", "--until-idle", "--threads", "1"]
    procs = []
    for i in range(n):
        with open(logs / f"worker-{n}-{i}.log", "wb") as out:
            procs.append(
                subprocess.Popen(
                    command, env=_worker_env(url), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                )
            )
    return procs


def _wait_for_lock_waiters(
    admin: Engine, database: str, procs: list[subprocess.Popen[bytes]], logs: Path
) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            tail = "\n".join(p.read_text()[-2000:] for p in sorted(logs.glob("worker-*.log")))
            raise RuntimeError(f"a worker exited {dead[0].returncode} before starting:\n{tail}")
        with admin.connect() as conn:
            if int(conn.execute(query, {"db": database}).scalar_one()) >= len(procs):
                return
        time.sleep(0.05)
    raise RuntimeError("the worker processes did not reach the database within 120 s")


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> float:
    """perf_counter() when the last one exited; every one must exit 0."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        if code != 0:
            raise RuntimeError(f"worker {proc.pid} exited {code}")
    return time.perf_counter()


def verify(engine: Engine) -> tuple[int, list[str], dict[str, int]]:
    """(sends, problems, deliveries per lease owner): every delivery sent exactly once."""
    problems = []
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.status, deliveries.c.attempts)
        ).all()
        keys = list(conn.execute(select(log_sends.c.idempotency_key)).scalars())
        events = Counter(
            conn.execute(
                select(audit_events.c.action, audit_events.c.subject).where(
                    audit_events.c.action.in_(("delivery.decided", "delivery.outcome"))
                )
            )
            .tuples()
            .all()
        )
        owners = dict(
            conn.execute(
                select(deliveries.c.lease_owner, func.count()).group_by(deliveries.c.lease_owner)
            )
            .tuples()
            .all()
        )
        chain = audit.verify(conn)
    ids = {f"delivery-{r.id}" for r in rows}
    if len(keys) != len(rows) or set(keys) != ids or len(set(keys)) != len(keys):
        problems.append(f"{len(keys)} log_sends rows ({len(set(keys))} keys) for {len(rows)}")
    if {r.status for r in rows} != {"done"} or any(r.attempts != 1 for r in rows):
        problems.append(f"statuses {Counter(r.status for r in rows)}, attempts ≠ 1 somewhere")
    for action in ("delivery.decided", "delivery.outcome"):
        per = [n for (a, _), n in events.items() if a == action]
        if len(per) != len(rows) or set(per) != {1}:
            problems.append(f"{action}: {len(per)} deliveries, counts {Counter(per)}")
    if not chain.ok:
        problems.append(f"audit chain broken at {chain.broken_at}: {chain.problem}")
    return len(keys), problems, {str(k): int(v) for k, v in owners.items()}


def run_once(
    cluster: PgCluster,
    template: str,
    workers: int,
    logs: Path,
    *,
    profile: bool = False,
    hz: float = 10.0,
) -> PgRun:
    url = cluster.new_database(template=template)
    database = url.rsplit("/", 1)[1]
    admin = create_engine(cluster.admin_url)
    engine = make_engine(url)
    has_statements = pg_probe.reset_statements(admin)
    procs: list[subprocess.Popen[bytes]] = []
    sampler = pg_probe.Sampler(admin, database, [], hz)
    try:
        with engine.connect() as gate:
            gate.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
            procs = _start_workers(url, workers, logs)
            raws = [logs / f"spy-{workers}-{i}.txt" for i in range(workers)]
            pairs = zip(procs, raws, strict=True)
            spies = [pg_profile.start(p.pid, raw) for p, raw in pairs] if profile else []
            _wait_for_lock_waiters(admin, database, procs, logs)
            pg_probe.reset_statements(admin)  # boot-time statements are not the run's
            sampler.pids = [p.pid for p in procs]
            sampler.start()
            cpu, load = pg_probe.MachineCpu(), round(os.getloadavg()[0], 2)
            t0, t0_wall = time.perf_counter(), datetime.now(UTC)
            gate.rollback()  # go
        end = _wait_all(procs, timeout=900)
        busy = cpu.busy()
        sampler.stop()
        for spy in spies:
            spy.wait(timeout=60)
        sent, problems, owners = verify(engine)
        with engine.connect() as conn:
            last = conn.execute(select(func.max(deliveries.c.updated_at))).scalar_one()
            n = int(conn.execute(select(func.count()).select_from(deliveries)).scalar_one())
        drain = (last - t0_wall).total_seconds()
        top, totals = pg_probe.statements(admin, database) if has_statements else ([], {})
        result = PgRun(
            workers=workers,
            deliveries=n,
            drain_seconds=round(drain, 2),
            deliveries_per_second=round(sent / drain, 1),
            exit_seconds=round(end - t0, 2),
            sent=sent,
            exactly_once=not problems,
            problems=problems,
            per_worker=owners,
            loadavg=load,
            machine_busy_percent=busy,
            probe=sampler.summary(),
            statements=top,
        )
        result.derive(settings_for_url(url).worker.batch_size, totals)
        if profile:
            result.profile = [pg_profile.stages(raw) for raw in raws]
        return result
    finally:
        sampler.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        engine.dispose()
        admin.dispose()


def run(
    count: int,
    workers: list[int],
    now: datetime,
    places: list[Place],
    *,
    repeat: int = 1,
    profile: bool = False,
    hz: float = 10.0,
    say: Say = print,
) -> dict[str, Any]:
    """Every worker count against its own copy of one template, ``repeat`` rounds (the order
    reversed every other round, so a load change on the machine does not favour one count);
    the cluster is stopped and removed at the end, also on error."""
    cluster = start_cluster(_pg_settings())
    logs = RESULTS_DIR / "pg_dispatch-logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        out: dict[str, Any] = {"server": _server_version(cluster), "settings": cluster.settings}
        template = prepare(cluster, count, now, places, say)
        out["runs"], out["ratios"] = [], []
        for round_ in range(repeat):
            order = workers if round_ % 2 == 0 else workers[::-1]
            runs = {}
            for n in order:
                say(f"pg-dispatch: round {round_ + 1}/{repeat}, {n} worker process(es) …")
                runs[n] = run_once(cluster, template, n, logs, profile=profile, hz=hz)
                out["runs"].append(runs[n].as_dict() | {"round": round_ + 1})
            if 1 in runs and 2 in runs:
                out["ratios"].append(
                    round(runs[2].deliveries_per_second / runs[1].deliveries_per_second, 2)
                )
        if out["ratios"]:
            out["ratio_median"] = statistics.median(out["ratios"])
        return out
    finally:
        cluster.remove()


def _server_version(cluster: PgCluster) -> str:
    engine = create_engine(cluster.admin_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pg_dispatch",
        description="PostgreSQL dispatch: one vs two `outbound serve --role worker` processes.",
    )
    parser.add_argument("--deliveries", type=int, default=10_000, help="backlog (default 10,000)")
    parser.add_argument("--workers", default="1,2", help="worker process counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, order alternating")
    parser.add_argument("--profile", action="store_true", help="py-spy every worker process")
    parser.add_argument("--hz", type=float, default=10.0, help="pg_stat_activity samples/s")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "pg_dispatch.json")
    return parser.parse_args(argv)


def _terminate(*_: object) -> None:
    raise SystemExit(143)  # SIGTERM: unwind, so the cluster is stopped and removed


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    now = datetime.now(UTC).replace(microsecond=0)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    load = [round(x, 2) for x in os.getloadavg()]
    result = run(
        args.deliveries,
        counts,
        now,
        open_places(now),
        repeat=args.repeat,
        profile=args.profile,
        hz=args.hz,
        say=lambda m: print(m, file=sys.stderr, flush=True),
    )
    result.update(when=now.isoformat(), cpus=os.cpu_count(), loadavg_start=load)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(pg_report.report(result))
    print(f"\nload average {load} at start, {result['loadavg_end']} at end; see {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
