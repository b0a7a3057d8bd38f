"""The worker loop, a batch at a time: claim -> send -> record.

The claim of a batch (lease, policy re-check, cap reservations) is one transaction; the batch
goes to the channels outside any transaction (each adapter's in-flight window); every outcome
of the batch, with its audit event and next rung, is recorded in a second transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from outbound.channels.base import ChannelPort, Message, Result, send_all
from outbound.domain.clock import Clock, system_clock
from outbound.domain.errors import ChannelError, DatabaseUnavailable, TransientChannelError
from outbound.domain.masking import mask_text
from outbound.domain.values import Accepted, Channel, SendResult
from outbound.observability import metrics
from outbound.policy.ladder import Ladder
from outbound.policy.messaging import MessagingRules
from outbound.policy.model import Rules
from outbound.services.send.claims import ClaimRequest, claim
from outbound.services.send.outcomes import Recorder
from outbound.services.templates.render import MessageRenderer
from outbound.store.customers import addresses
from outbound.store.db import describe_fault, is_fault
from outbound.store.outbox import Claimed, in_flight_or_due, reap

log = logging.getLogger("outbound.services.send.dispatch")

#: a worker's backoff while batches fail: poll * 2^(n-1) seconds, at most this
FAULT_CEILING_SECONDS = 60.0
#: ``--until-idle`` gives up on an unwritable or unreachable database after this many tries
FAULT_ATTEMPTS = 4

AfterResult = Callable[[Connection, Claimed, SendResult, datetime], None]


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    errors: int = 0
    refused: int = 0  # rounds the admission hook said no
    lags: list[float] = field(default_factory=list)


@dataclass
class FaultLog:
    """One log line per backoff interval for all the workers of a process meeting one fault
    (each worker backs off on its own; N threads need not say the same thing N times)."""

    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _quiet_until: float = 0.0
    _cause: str = ""

    def report(self, cause: str, delay: float) -> None:
        with self._lock:
            now = self.clock()
            if cause == self._cause and now < self._quiet_until:
                return
            self._cause, self._quiet_until = cause, now + delay * 0.9
        log.error("dispatch paused: %s; retrying in %.1fs", cause, delay)


@dataclass
class Dispatcher:
    engine: Engine
    rules: Rules
    channels: Mapping[Channel, ChannelPort]
    ladder: Ladder = field(default_factory=Ladder)
    clock: Clock = system_clock
    batch: int = 50
    lease: timedelta = timedelta(seconds=60)
    reap_every: timedelta = timedelta(seconds=15)
    brand: str = "Shop"
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    stats: DispatchStats = field(default_factory=DispatchStats)
    messaging: MessagingRules | None = None
    actor: str = "dispatcher"
    #: runs in the outcome's transaction (the dialer applies in-call actions here)
    after_result: AfterResult | None = None
    faults: FaultLog = field(default_factory=FaultLog)  # shared by a process's workers
    #: asked before each claim: False leaves the queue alone this round (a dialer's admission
    #: control: no call while the media clock is late or the CPU has no room for one)
    admit: Callable[[], bool] | None = None
    _last_reap: datetime | None = None

    def run_once(self) -> int:
        """Claim one batch and work it; returns how many deliveries were claimed for sending."""
        now = self.clock()
        self._maybe_reap(now)
        if self.admit is not None and not self.admit():
            self.stats.refused += 1
            return 0
        with self.engine.begin() as conn:
            request = ClaimRequest(
                self.owner, self.batch, self.lease, now, frozenset(self.channels), self.actor
            )
            with metrics.timed(metrics.CLAIM_SECONDS):
                claimed = claim(conn, request, rules=self.rules, ladder=self.ladder)
            messages = self._messages(conn, claimed) if claimed else {}
        metrics.CLAIM_BATCH.observe(len(claimed))
        self.stats.claimed += len(claimed)
        if claimed:
            self._record_all(claimed, self._send(claimed, messages))
        return len(claimed)

    def run(self, stop: threading.Event, poll: float = 0.5, until_idle: bool = False) -> None:
        """Work until ``stop`` is set (or, with ``until_idle``, until nothing is due).

        A failing batch backs off exponentially (``poll`` doubled per failure up to
        FAULT_CEILING_SECONDS) with one log line per wait. An unwritable or unreachable
        database with ``until_idle`` gives up after FAULT_ATTEMPTS tries and raises
        DatabaseUnavailable: a batch job must fail visibly, not wait forever.
        """
        failures = 0
        while not stop.is_set():
            try:
                worked = self.run_once()
                if worked == 0 and until_idle and self.idle():
                    return
            except Exception as exc:  # keep the long-running service alive; the lease protects rows
                failures += 1
                stop.wait(self._after_failure(exc, failures, poll, until_idle))
                continue
            if failures:
                metrics.WORKER_BACKOFF.labels(self.actor).set(0)
            failures = 0
            if worked == 0:
                stop.wait(poll)

    def _after_failure(self, exc: Exception, failures: int, poll: float, until_idle: bool) -> float:
        """Log the failure (one line for a database fault) and return how long to wait."""
        delay: float = min(poll * 2.0 ** (failures - 1), FAULT_CEILING_SECONDS)
        metrics.WORKER_FAILURES.inc()
        metrics.WORKER_BACKOFF.labels(self.actor).set(delay)
        if not is_fault(exc):
            log.exception("dispatch batch failed; retrying in %.1fs", delay)
            return delay
        cause = describe_fault(exc, str(self.engine.url))
        if until_idle and failures >= FAULT_ATTEMPTS:
            raise DatabaseUnavailable(f"{cause} (gave up after {failures} attempts)") from None
        self.faults.report(cause, delay)
        return delay

    def idle(self, horizon: timedelta = timedelta(seconds=10)) -> bool:
        """Nothing in flight (by anyone) and nothing of ours due within ``horizon``."""
        with self.engine.begin() as conn:
            return in_flight_or_due(conn, self.clock() + horizon, frozenset(self.channels)) == 0

    def _maybe_reap(self, now: datetime) -> None:
        if self._last_reap is not None and now - self._last_reap < self.reap_every:
            return
        self._last_reap = now
        with self.engine.begin() as conn:
            count = reap(conn, now)
        if count:
            metrics.LEASE_REAPS.inc(count)
            log.warning("reaped %d expired leases back to the queue", count)

    def _messages(self, conn: Connection, claimed: list[Claimed]) -> dict[int, Message]:
        people = addresses(conn, [c.customer_id for c in claimed])
        renderer = MessageRenderer(self.rules, self.messaging, self.brand)
        out = {}
        for c in claimed:
            person = people[c.customer_id]
            to = person.push_endpoint if c.channel is Channel.PUSH else person.phone_e164
            text = renderer.text(c.kind, c.channel, person.locale, person.country, c.payload)
            out[c.delivery_id] = Message(
                c.delivery_id,
                c.channel,
                c.kind,
                c.customer_id,
                to or "",
                person.locale,
                text,
                c.payload,
            )
        return out

    def _send(self, claimed: list[Claimed], messages: dict[int, Message]) -> list[Result]:
        """Every claimed delivery through its channel's adapter; one result each, in order.

        Each channel's batch goes through that adapter's window (``send_all``); the channels of
        one batch are sent side by side, so a slow provider does not hold up the others.
        """
        groups: dict[Channel, list[int]] = defaultdict(list)
        for i, item in enumerate(claimed):
            groups[item.channel].append(i)
        results: list[Result | None] = [None] * len(claimed)

        def work(channel: Channel, idx: list[int]) -> None:
            adapter = self.channels.get(channel)
            batch = [messages[claimed[i].delivery_id] for i in idx]
            if adapter is None:
                missing = TransientChannelError(
                    f"no adapter configured for channel {channel.value}"
                )
                out: list[Result] = [missing] * len(batch)
            else:
                out = send_all(adapter, batch)
            for i, result in zip(idx, out, strict=True):
                results[i] = result

        *others, last = groups.items()
        threads = [threading.Thread(target=work, args=g) for g in others]
        for t in threads:
            t.start()
        work(*last)  # the last channel's batch in this thread
        for t in threads:
            t.join()
        return [r if r is not None else TransientChannelError("no result") for r in results]

    def _record_all(self, claimed: list[Claimed], results: list[Result]) -> None:
        """Every outcome, its audit event and next rung in one transaction; if that fails,
        each on its own, so one bad row cannot hold back the others' records."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                recorder = Recorder(conn, now, self.ladder, self.actor)
                for item, result in zip(claimed, results, strict=True):
                    self._record(recorder, item, result)
                recorder.flush()
        except Exception:
            log.exception("recording a batch of %d failed; recording one by one", len(claimed))
            for item, result in zip(claimed, results, strict=True):
                try:
                    with self.engine.begin() as conn:
                        recorder = Recorder(conn, now, self.ladder, self.actor)
                        self._record(recorder, item, result)
                        recorder.flush()
                except Exception:  # the lease expires and the reaper requeues it
                    log.exception("recording delivery %d failed", item.delivery_id)
        for result in results:
            if isinstance(result, ChannelError):
                self.stats.errors += 1
            else:
                self.stats.sent += 1

    def _record(self, recorder: Recorder, item: Claimed, result: Result) -> None:
        metrics.count_delivery(item.channel, result)
        if isinstance(result, ChannelError):
            ids = {"delivery": item.delivery_id, "notification": item.notification_id}
            log.info("delivery %d: %s", item.delivery_id, mask_text(str(result)), extra=ids)
            recorder.error(item, result)
        elif isinstance(result, Accepted):  # the outcome arrives later, by receipt
            recorder.sent(item, result)
        else:
            recorder.result(item, result)
            if self.after_result is not None:
                self.after_result(recorder.conn, item, result, recorder.now)
