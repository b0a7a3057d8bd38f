"""Group commit: one writer thread applies queued jobs in one transaction per group.

A request that passed every check that needs no write (size, type, signature, rate, schema)
hands its database work to the writer as a ``Job`` and waits. The writer takes whatever is
queued (up to ``max_group``), applies each job inside its own SAVEPOINT — so a job that fails
(a 422 found while applying, a twin's IntegrityError) is rolled back and answered alone, and
its neighbours go on — commits once, and only then answers the jobs of the group: an answer
never leaves before the commit that holds its writes. A group that cannot commit (the database
went away, a connection broke mid-group) answers every one of its jobs with that error (503),
and nothing of any of them was written.

Why: one transaction per event made every request wait for a commit of its own behind the one
writer (SQLite's lock; on PostgreSQL the audit chain's head row). Events that arrive while a
group is being written share the next commit, so at load N commits become one, and at rest a
lone event is written at once (the writer never waits for company).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from outbound.observability import metrics

log = logging.getLogger("outbound.api.ingest")
T = TypeVar("T")
MAX_GROUP = 128
#: PostgreSQL states after which the savepoint is intact and the job can simply run again, in the
#: next group (after this one committed and released what the other transaction waited for):
#: serialization failure, deadlock detected, lock not available.
RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
MAX_TRIES = 3
WRITER_THREAD = "ingest-writer"


class _Alone:
    def __repr__(self) -> str:
        return "ALONE"


#: what a bulk handler returns for a job it leaves to the job's own ``apply``
ALONE: Any = _Alone()
#: applies consecutive jobs that share it, in one savepoint: one answer per job, in order (a
#: value, an exception instance, or ``ALONE``); if it raises, each job is applied alone
Bulk = Callable[[Connection, Sequence["Job[Any]"]], list[Any]]


@dataclass(eq=False)
class Job(Generic[T]):
    """The writes of one request. ``apply`` runs in the group's transaction (in a savepoint);
    ``conflict`` answers after an IntegrityError (the savepoint rolled back), e.g. as the
    concurrent twin that committed first did; without it the error is the answer. ``bulk``
    (with ``item``, what it reads) may apply a run of queued jobs at once."""

    apply: Callable[[Connection], T]
    conflict: Callable[[Connection, IntegrityError], T] | None = None
    bulk: Bulk | None = None
    item: Any = None
    tries: int = 0
    # who waits: an event loop's future (``run``) or a thread's (``submit``)
    waiter: asyncio.Future[T] | None = field(default=None, repr=False)
    future: Future[T] | None = field(default=None, repr=False)

    def wanted(self) -> bool:
        """False if the request went away while queued (its client disconnected)."""
        if self.waiter is not None:
            return not self.waiter.cancelled()
        if self.future is not None and not self.tries:
            return self.future.set_running_or_notify_cancel()
        return True


class _Retry(Exception):
    """A job met a transient lock conflict: run it again in the next group."""


@dataclass
class Stats:
    submitted: int = 0  # jobs queued so far
    groups: int = 0  # committed transactions
    jobs: int = 0  # jobs answered from committed groups
    failed_groups: int = 0
    largest: int = 0


class GroupCommit:
    """The writer: ``await writer.run(job)`` returns (or raises) the job's answer after commit."""

    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        self.engine = engine
        self.max_group = max_group
        self.stats = Stats()
        self._queue: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def run(self, job: Job[T]) -> T:
        job.waiter = asyncio.get_running_loop().create_future()
        self._put(job)
        return await job.waiter

    def submit(self, job: Job[T]) -> Future[T]:
        """``run`` for a caller without an event loop."""
        job.future = Future()
        self._put(job)
        return job.future

    def _put(self, job: Job[Any]) -> None:
        with self._lock:
            self._start()
            self.stats.submitted += 1
        self._queue.put(job)

    def pending(self) -> int:
        """Jobs waiting for the next group (approximate; for tests and diagnostics)."""
        return self._queue.qsize()

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name=WRITER_THREAD, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the writer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            group, stopping = self._take()
            if group:
                self._write(group)
            if stopping:
                return

    def _take(self) -> tuple[list[Job[Any]], bool]:
        """Block for the first job, then take whatever else is queued, up to ``max_group``."""
        group: list[Job[Any]] = []
        item = self._queue.get()
        while item is not None:
            if item.wanted():  # a request whose client went away while queued is not written
                group.append(item)
            if len(group) >= self.max_group:
                return group, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return group, False
        return group, True

    def _write(self, group: list[Job[Any]]) -> None:
        metrics.GROUP_COMMIT.observe(len(group))
        answers: list[tuple[Job[Any], Any]] = []
        again: list[Job[Any]] = []
        try:
            with self.engine.begin() as conn:
                for run in _runs(group):
                    done = _bulk(conn, run) or [ALONE] * len(run)
                    for job, outcome in zip(run, done, strict=True):
                        if outcome is not ALONE:
                            answers.append((job, outcome))
                            continue
                        try:
                            answers.append((job, _apply(conn, job)))
                        except _Retry:
                            again.append(job)
        except Exception as exc:
            self.stats.failed_groups += 1
            log.warning("group of %d events rolled back: %s", len(group), type(exc).__name__)
            _deliver([(job, exc) for job in group])
            return
        self.stats.groups += 1
        self.stats.jobs += len(answers)
        self.stats.largest = max(self.stats.largest, len(group))
        _deliver(answers)
        for job in again:
            self._queue.put(job)


def _deliver(answers: list[tuple[Job[Any], Any]]) -> None:
    """Hand every answer to its waiter: one wake-up per event loop for the whole group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for job, outcome in answers:
        if job.waiter is not None:
            by_loop.setdefault(job.waiter.get_loop(), []).append((job.waiter, outcome))
        elif job.future is not None:
            _settle([(job.future, outcome)])
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: Sequence[tuple[asyncio.Future[Any] | Future[Any], Any]]) -> None:
    for waiter, outcome in settled:
        if waiter.done():  # cancelled meanwhile
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def _runs(group: list[Job[Any]]) -> list[list[Job[Any]]]:
    """Consecutive jobs that share a bulk handler; every other job is a run of its own."""
    runs: list[list[Job[Any]]] = []
    for job in group:
        if runs and job.bulk is not None and runs[-1][-1].bulk is job.bulk:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _bulk(conn: Connection, run: list[Job[Any]]) -> list[Any] | None:
    """The run's answers from its bulk handler, or None: then each job is applied alone."""
    bulk = run[0].bulk
    if bulk is None or len(run) < 2:
        return None
    try:
        with conn.begin_nested():
            return bulk(conn, run)
    except DBAPIError as exc:
        if not _alone(exc):
            raise  # the connection or the transaction is broken: the group fails
        log.debug("bulk of %d rolled back (%s); one at a time", len(run), type(exc).__name__)
    except Exception:
        log.warning("bulk of %d failed; applying them one at a time", len(run), exc_info=True)
    return None


def _apply(conn: Connection, job: Job[T]) -> T | BaseException:
    """One job in its own savepoint: its answer, or the error it is answered with (after its
    savepoint rolled back). Raises ``_Retry``, or what breaks the whole group."""
    try:
        with conn.begin_nested():
            return job.apply(conn)
    except IntegrityError as exc:
        if job.conflict is None:
            return exc
        try:
            return job.conflict(conn, exc)
        except Exception as again:
            return again
    except DBAPIError as exc:
        job.tries += 1
        if _sqlstate(exc) in RETRY_STATES and job.tries < MAX_TRIES:
            raise _Retry from exc
        if _alone(exc):
            return exc  # its own problem (422, 503), answered alone
        raise  # the connection or the transaction is broken: the group fails
    except Exception as exc:  # a refusal found while applying, or a bug: this job's answer
        return exc


def _sqlstate(exc: DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _alone(exc: DBAPIError) -> bool:
    """The savepoint took the failure: answer this job alone and keep the group."""
    return isinstance(exc, (IntegrityError, DataError)) or _sqlstate(exc) in RETRY_STATES
