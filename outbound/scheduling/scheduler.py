"""The only APScheduler import: leader election, campaign fires, lease reaping.

Schedules live in our ``campaigns`` table and are rebuilt into a MemoryJobStore whenever this
node leads (APScheduler 3.x must never share a pickled job store across processes: it would run
jobs twice). Exactly one node leads: a file lock on SQLite, ``pg_try_advisory_lock`` on
PostgreSQL. A fire inserts ``campaign_runs(campaign_id, fire_time)``, unique, so even two leaders
(a split brain) cannot run the same firing twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, Engine

from outbound.domain.errors import FieldProblem, OutboundError, ValidationError
from outbound.services.campaigns import runs as campaigns
from outbound.services.send.context import SendContext
from outbound.store.campaigns import active_campaigns
from outbound.store.db import advisory_unlock, describe_fault, is_fault, try_advisory_lock
from outbound.store.outbox import reap

log = logging.getLogger("outbound.scheduling.scheduler")
ADVISORY_KEY = 0x0B0B_5C4E  # "outbound scheduler"


def _wall() -> datetime:
    """APScheduler runs on the wall clock; our rules run on the injected clock."""
    return datetime.now(UTC)


def validate_schedule(expr: str, timezone: str) -> CronTrigger:
    try:
        zone = ZoneInfo(timezone)
    except Exception:
        raise ValidationError(
            [FieldProblem("timezone", timezone, "is not an IANA time zone")]
        ) from None
    try:
        trigger = CronTrigger.from_crontab(expr, timezone=zone)
    except ValueError as exc:
        raise ValidationError(
            [
                FieldProblem(
                    "schedule",
                    expr,
                    f"is not a 5-field crontab ({exc}); e.g. '0 10 * * *' = 10:00 daily",
                )
            ]
        ) from None
    if trigger.get_next_fire_time(None, _wall()) is None:
        raise ValidationError(
            [
                FieldProblem(
                    "schedule",
                    expr,
                    "never fires (no such date, e.g. 30 February); e.g. '0 10 28 2 *'",
                )
            ]
        )
    return trigger


def last_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest fire time <= now (within a day): the firing's identity for campaign_runs."""
    t = trigger.get_next_fire_time(None, now - timedelta(days=1))
    last = None
    for _ in range(2000):
        if t is None or t > now:
            break
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return last


def _logged(name: str, job: Callable[[], object], url: str) -> Callable[[], None]:
    """A periodic job whose expected failures (an unwritable or unreachable database, a
    checkpoint target gone) are one log line per run, not a traceback per run."""

    def run() -> None:
        try:
            job()
        except (OutboundError, OSError) as exc:
            log.warning("%s failed: %s", name, exc)
        except Exception as exc:
            if not is_fault(exc):
                raise
            log.error("%s paused: %s", name, describe_fault(exc, url))

    return run


class LeaderLock:
    """Held for as long as this process leads."""

    def __init__(self, engine: Engine, lock_file: str = "") -> None:
        self.engine = engine
        self.lock_file = lock_file
        self._handle: TextIO | None = None
        self._conn: Connection | None = None

    def _path(self) -> Path:
        if self.lock_file:
            return Path(self.lock_file)
        database = self.engine.url.database or "outbound.db"
        if self.engine.url.query.get("uri") == "true":  # sqlite:///file:/x/o.db?mode=ro&uri=true
            database = database.removeprefix("file:")
        return Path(database + ".scheduler.lock")

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = try_advisory_lock(conn, ADVISORY_KEY)
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        handle = self._path().open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            # a pooled connection outlives close(): unlock explicitly, then drop it for good
            try:
                advisory_unlock(self._conn, ADVISORY_KEY)
                self._conn.commit()
            finally:
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@dataclass
class Scheduler:
    engine: Engine
    #: the send path's collaborators; its clock is the scheduler's too
    send: SendContext
    reap_seconds: float = 15
    reload_seconds: float = 30
    lock_file: str = ""
    #: leader-only periodic jobs (every ``reap_seconds``), e.g. escalate unopened pushes,
    #: close sent messages whose receipts never came
    housekeeping: dict[str, Callable[[], object]] = field(default_factory=dict)
    #: leader-only jobs with their own interval in seconds (the audit checkpoint)
    periodic: dict[str, tuple[float, Callable[[], object]]] = field(default_factory=dict)
    _aps: BackgroundScheduler = field(init=False)
    _lock: LeaderLock = field(init=False)
    _loaded: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    leader: bool = False

    def __post_init__(self) -> None:
        self._aps = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self._lock = LeaderLock(self.engine, self.lock_file)

    def start(self) -> None:
        self._aps.start()
        self._aps.add_job(
            _logged("leader election", self._try_lead, str(self.engine.url)),
            "interval",
            seconds=max(self.reload_seconds / 3, 1),
            id="lead",
            next_run_time=_wall(),
        )

    def stop(self) -> None:
        self._aps.shutdown(wait=True)
        self._lock.release()
        self.leader = False

    def _try_lead(self) -> None:
        if not self.leader and self._lock.acquire():
            self.leader = True
            log.info("this node leads the scheduler")
            url = str(self.engine.url)
            every = self.reap_seconds
            self._aps.add_job(
                _logged("reap", self._reap, url), "interval", seconds=every, id="reap"
            )
            for name, job in self.housekeeping.items():
                self._aps.add_job(_logged(name, job, url), "interval", seconds=every, id=name)
            for name, (seconds, job) in self.periodic.items():
                self._aps.add_job(
                    _logged(name, job, url),
                    "interval",
                    seconds=seconds,
                    id=name,
                    next_run_time=_wall(),
                )
            self._aps.add_job(
                _logged("reload", self.reload, url),
                "interval",
                seconds=self.reload_seconds,
                id="reload",
                next_run_time=_wall(),
            )

    def _reap(self) -> None:
        with self.engine.begin() as conn:
            n = reap(conn, self.send.clock())
        if n:
            log.warning("reaped %d expired leases", n)

    def reload(self) -> None:
        """Rebuild campaign jobs from the table: add new, drop paused/deleted, replace changed."""
        with self.engine.begin() as conn:
            rows = active_campaigns(conn)
        wanted = {r.id: (r.schedule, r.timezone, r.name) for r in rows}
        for cid in [c for c in self._loaded if wanted.get(c) != self._loaded[c]]:
            if self._aps.get_job(f"campaign-{cid}"):
                self._aps.remove_job(f"campaign-{cid}")
            del self._loaded[cid]
        for cid, spec in wanted.items():
            if cid not in self._loaded:
                self._loaded[cid] = spec  # a bad one too: logged once, until it is changed
                try:
                    trigger = validate_schedule(spec[0], spec[1])
                except ValidationError as exc:
                    log.error("campaign %s is not scheduled: %s", spec[2], exc)
                    continue
                job = _logged(f"campaign {spec[2]}", partial(self.fire, cid), str(self.engine.url))
                self._aps.add_job(job, trigger, id=f"campaign-{cid}")

    def fire(
        self, campaign_id: int, fire_time: datetime | None = None
    ) -> campaigns.RunReport | None:
        now = self.send.clock()
        if fire_time is None:
            with self.engine.begin() as conn:
                row = campaigns.get(conn, campaign_id)
            fire_time = last_fire_time(validate_schedule(row.schedule, row.timezone), now) or now
        report = campaigns.run(self.engine, campaign_id, self.send, fire_time=fire_time)
        if report.error:
            log.error(
                "campaign %s fire %s failed after %d created: %s",
                report.campaign,
                fire_time.isoformat(),
                report.created,
                report.error,
            )
            return report
        log.info(
            "campaign %s fire %s: ran=%s created=%d",
            report.campaign,
            fire_time.isoformat(),
            report.ran,
            report.created,
        )
        return report

    def fire_now(self, campaign_id: int) -> Any:
        """Queue an immediate firing on the scheduler's own thread pool (the demo uses it)."""
        return self._aps.add_job(
            self.fire, args=[campaign_id, self.send.clock()], next_run_time=_wall()
        )
