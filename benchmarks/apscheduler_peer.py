"""The do-it-yourself peer of dispatch: APScheduler 3, one job per notification.

What a shop might build in an afternoon instead of outbound: every notification is a date-trigger
job in a ``SQLAlchemyJobStore`` on a SQLite file, run by a ``BackgroundScheduler`` with an
8-thread executor; each job "sends" by inserting one row into a SQLite table (the same effect
outbound's log sink has). No consent, quiet hours, caps, ladder or audit. The jobs are stored
before the clock starts; the figure is jobs run per second until every row is in.

Both SQLite files run as outbound's do (``outbound.store.db``): ``journal_mode = WAL`` and
``synchronous = NORMAL``, so a commit costs the peer what it costs outbound (in the default
rollback-journal mode with ``synchronous = FULL`` every commit fsyncs, which halves the peer).

Run alone: ``python -m benchmarks.apscheduler_peer --jobs 20000``.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, create_engine, event

#: outbound's own SQLite settings (outbound.store.db._sqlite_pragmas), given to the peer too
PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL")

_SINK: dict[str, Any] = {}


def send(notification_id: int) -> None:
    """The job: one row per notification (the peer of the log sink's row)."""
    with _SINK["lock"]:
        conn: sqlite3.Connection = _SINK["conn"]
        conn.execute(
            "INSERT OR IGNORE INTO sends (id, at) VALUES (?, ?)", (notification_id, time.time())
        )
        conn.commit()
        _SINK["count"] += 1
        if _SINK["count"] >= _SINK["target"]:
            _SINK["done"].set()


@dataclass
class PeerResult:
    jobs: int
    seconds: float
    sends_per_second: float
    threads: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pragmas(conn: Any) -> None:
    cursor = conn.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def job_store_engine(path: Path) -> Engine:
    """The job store's engine, every connection in WAL with ``synchronous = NORMAL``."""
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda conn, _record: _pragmas(conn))
    return engine


def run(workdir: Path, jobs: int, threads: int = 8, timeout: float = 600.0) -> PeerResult:
    store = job_store_engine(workdir / "apscheduler-jobs.db")
    sink = sqlite3.connect(workdir / "apscheduler-sends.db", check_same_thread=False)
    _pragmas(sink)
    sink.execute("CREATE TABLE IF NOT EXISTS sends (id INTEGER PRIMARY KEY, at REAL)")
    sink.commit()
    _SINK.update(conn=sink, lock=threading.Lock(), count=0, target=jobs, done=threading.Event())
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store)},
        executors={"default": ThreadPoolExecutor(threads)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.start(paused=True)
    now = datetime.now(UTC)
    for i in range(jobs):
        scheduler.add_job(send, "date", run_date=now, args=[i], id=f"n{i}")
    started = time.perf_counter()
    scheduler.resume()
    finished = _SINK["done"].wait(timeout)
    seconds = time.perf_counter() - started
    scheduler.shutdown(wait=True)
    sink.close()
    store.dispose()
    if not finished:
        raise RuntimeError(f"APScheduler peer ran {_SINK['count']} of {jobs} jobs in {timeout}s")
    return PeerResult(jobs, round(seconds, 3), round(jobs / seconds, 1), threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.apscheduler_peer")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbound-aps-") as tmp:
        result = run(Path(tmp), args.jobs, args.threads)
    print(
        f"APScheduler 3 peer: {result.jobs:,} jobs in {result.seconds:.1f}s = "
        f"{result.sends_per_second:,.0f} sends/s ({result.threads} threads)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
