"""Wires the operations view into a serving process: the database gauges of /metrics, this
process's heartbeat, and /metrics on its own port for roles without the API."""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

from outbound.bootstrap.app import App
from outbound.observability import metrics, status
from outbound.services.checkpoints import scheduled_file


def checkpoint_file(app: App) -> Path | None:
    target = app.settings.audit.checkpoint_to
    return scheduled_file(target) if target else None


def snapshot(app: App) -> status.Snapshot:
    return status.read(app.engine, app.clock(), checkpoint_file(app))


def watch(app: App) -> None:
    """The database gauges (queue, oldest due, audit head, checkpoint age) in this process."""
    metrics.watch_database(partial(snapshot, app))


def observe(
    app: App, role: str, stop: threading.Event, serves_api: bool
) -> status.Heartbeat | None:
    """Called by ``serve`` once its parts run: heartbeat, gauges, /metrics where no API is.
    Returns the heartbeat (it ends when ``stop`` is set), None for the API role."""
    watch(app)
    beat = status.Heartbeat(app.engine, role, app.clock, stop).start() if role != "api" else None
    port = app.settings.api.metrics_port
    if not serves_api and port >= 0:
        metrics.serve_metrics(app.settings.api.host, port)
    return beat
