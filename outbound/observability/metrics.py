"""Prometheus metrics of one process, served at ``GET /metrics``.

One registry per process and one scrape target per process (the API on its own port's
``/metrics``; workers, the scheduler and dialers on ``[metrics] port`` via ``serve_metrics``),
not prometheus-client's multiprocess mode: outbound's roles are separate processes that may run on
separate hosts, multiprocess mode needs a shared directory wiped at every start and cannot keep
gauges such as in-flight windows per process, while one target per process needs nothing shared
and Prometheus adds the series up (``sum by (channel)``).

Labels are low-cardinality only: channel, outcome, status, rule code, provider, role, endpoint
kind. Never a phone number, a customer, a notification or a delivery id.

Queue depth, the oldest due delivery, the audit head and the checkpoint age are read from the
database when scraped (``DatabaseCollector``), so every process reports the same truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from outbound.observability.status import Snapshot

log = logging.getLogger("outbound.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

DELIVERIES = Counter(
    "outbound_deliveries",
    "Delivery attempts worked by this process, by channel and outcome "
    "(accepted: the provider took it, the outcome follows by receipt; error_*: channel errors).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
DECISIONS = Counter(
    "outbound_decisions",
    "Policy decisions by verdict (send, defer, suppress) and the rule that decided.",
    ["decision", "rule"],
    registry=REGISTRY,
)
CLAIM_BATCH = Histogram(
    "outbound_claim_batch_size",
    "Deliveries claimed per worker batch.",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
    registry=REGISTRY,
)
CLAIM_SECONDS = Histogram(
    "outbound_claim_seconds",
    "Time to claim one batch (lease, policy re-check, cap reservations), seconds.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
LEASE_REAPS = Counter(
    "outbound_lease_reaps",
    "Expired leases returned to the queue.",
    registry=REGISTRY,
)
WORKER_BACKOFF = Gauge(
    "outbound_worker_backoff_seconds",
    "Current back-off of a dispatch loop after failed batches (0 = healthy).",
    ["actor"],
    registry=REGISTRY,
)
WORKER_FAILURES = Counter(
    "outbound_worker_batch_failures",
    "Dispatch batches that failed (database faults and bugs alike).",
    registry=REGISTRY,
)
PROVIDER_SECONDS = Histogram(
    "outbound_provider_request_seconds",
    "Latency of one provider request (SMPP submit, push POST, call setup), seconds.",
    ["provider"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PROVIDER_IN_FLIGHT = Gauge(
    "outbound_provider_in_flight",
    "Requests sent to a provider and not yet answered (its window in use).",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_WINDOW = Gauge(
    "outbound_provider_window",
    "The in-flight window a provider allows now: a throttling answer halves it, answers widen "
    "it back to the configured size (AIMD).",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_UP = Gauge(
    "outbound_provider_up",
    "1 while the provider link is usable (SMPP bound, push reachable), else 0.",
    ["provider"],
    registry=REGISTRY,
)
THROTTLE_WAIT = Histogram(
    "outbound_throttle_wait_seconds",
    "Time a send waited for a rate limit (throughput, provider throttling, calls per second).",
    ["channel"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
INGEST_REQUESTS = Counter(
    "outbound_ingest_requests",
    "Webhook and receipt requests answered by the API, by path and HTTP status.",
    ["path", "status"],
    registry=REGISTRY,
)
GROUP_COMMIT = Histogram(
    "outbound_group_commit_size",
    "Requests written per group commit of the API's writer.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
CALLS_IN_PROGRESS = Gauge(
    "outbound_calls_in_progress",
    "Robot calls currently set up or connected in this process.",
    registry=REGISTRY,
)
CALL_RESULTS = Counter(
    "outbound_call_results",
    "Finished robot calls by outcome (answered, voicemail, no_answer, busy, invalid, failed).",
    ["outcome"],
    registry=REGISTRY,
)
AMD_VERDICTS = Counter(
    "outbound_amd_verdicts",
    "Answering-machine detection verdicts (human, machine, unsure, silence).",
    ["verdict"],
    registry=REGISTRY,
)
ASR_CONFIDENCE = Histogram(
    "outbound_asr_confidence",
    "Confidence of recognised answers (0-1).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    registry=REGISTRY,
)


def observe_decision(decision: Any) -> None:
    """A policy decision (``Send``, ``Defer`` or ``Suppress``): counted by verdict and the rule
    that decided (a defer's rule, e.g. ``quiet_hours``; a suppression's code)."""
    verdict = type(decision).__name__.lower()
    if verdict == "send":
        rule = "send"
    elif verdict == "suppress":
        rule = str(decision.code)
    else:
        rule = str(decision.why.rule or "unknown")
    DECISIONS.labels(verdict, rule).inc()


def count_delivery(channel: object, result: object) -> None:
    """One worked delivery: its outcome, ``accepted`` (receipt to follow) or ``error_<kind>``."""
    outcome = getattr(result, "outcome", None)
    if outcome is not None:
        label = str(outcome)
    elif hasattr(result, "provider_refs"):
        label = "accepted"
    elif isinstance(result, Exception):
        label = "error_transient" if "Transient" in type(result).__name__ else "error_permanent"
    else:
        label = "unknown"
    DELIVERIES.labels(str(channel), label).inc()


def window_moved(provider: str, taken: int, size: int) -> None:
    """A provider's window: ``taken`` slots taken (+1) or given back (-1), its size now."""
    if taken:
        PROVIDER_IN_FLIGHT.labels(provider).inc(taken)
    PROVIDER_WINDOW.labels(provider).set(size)


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - start)


class DatabaseCollector(Collector):
    """Queue depth, oldest due age, audit head, checkpoint age, live processes: read at scrape
    time from the status read model (one short read transaction per scrape)."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        try:
            snap = self.snapshot()
        except Exception:  # a scrape must not fail because the database is down
            log.warning("metrics: the database could not be read for the queue gauges")
            up = GaugeMetricFamily("outbound_database_up", "1 when the database answered.")
            up.add_metric([], 0)
            yield up
            return
        yield from snapshot_metrics(snap)


def snapshot_metrics(snap: Snapshot) -> Iterator[Metric]:
    up = GaugeMetricFamily("outbound_database_up", "1 when the database answered.")
    up.add_metric([], 1)
    yield up
    depth = GaugeMetricFamily(
        "outbound_queue_depth", "Deliveries by channel and status.", labels=["channel", "status"]
    )
    for row in snap.queue:
        depth.add_metric([row.channel, row.status], row.count)
    yield depth
    oldest = GaugeMetricFamily(
        "outbound_queue_oldest_due_seconds",
        "Age of the oldest queued delivery that is due now (0 when none is).",
    )
    oldest.add_metric([], snap.oldest_due_seconds)
    yield oldest
    head = GaugeMetricFamily("outbound_audit_head_seq", "Sequence number of the audit chain head.")
    head.add_metric([], snap.audit_head)
    yield head
    age = GaugeMetricFamily(
        "outbound_audit_checkpoint_age_seconds",
        "Seconds since the last signed audit checkpoint (absent: none configured or written).",
    )
    if snap.checkpoint_age_seconds is not None:
        age.add_metric([], snap.checkpoint_age_seconds)
    yield age
    alive = GaugeMetricFamily(
        "outbound_processes_alive",
        "Processes whose heartbeat is fresh, by role.",
        labels=["role"],
    )
    for role, count in sorted(snap.alive.items()):
        alive.add_metric([role], count)
    yield alive


_watched: list[DatabaseCollector] = []


def watch_database(snapshot: Callable[[], Snapshot]) -> None:
    """Report the database gauges of ``snapshot`` from this process: one app per process, so a
    later call (a test building a new app) replaces the earlier one."""
    for old in _watched:
        REGISTRY.unregister(old)
    _watched.clear()
    collector = DatabaseCollector(snapshot)
    REGISTRY.register(collector)
    _watched.append(collector)


def render() -> bytes:
    """The process's metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


def serve_metrics(host: str, port: int) -> Any:
    """``/metrics`` of a process without an HTTP API (workers, scheduler, dialers) on
    ``host:port`` (port 0: a free one), in a daemon thread; returns the server
    (``server_address``; ``shutdown()`` stops it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    bound = server.server_address
    log.warning("metrics on http://%s:%d/metrics", bound[0], bound[1])
    return server


def seconds_between(earlier: datetime | None, later: datetime) -> float:
    return 0.0 if earlier is None else max((later - earlier).total_seconds(), 0.0)
