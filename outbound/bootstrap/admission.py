"""Builds a dialer's admission control (``voice.admission``) from ``[voice] admit_*``, with its
state written to ``voice_admission`` for the status view."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC, datetime

from sqlalchemy import Engine

from outbound.config import Settings
from outbound.store.voice_admission import AdmissionRow, forget_admission, record_admission
from outbound.voice.admission import (
    Admission,
    AdmissionLimits,
    ClockProbe,
    CpuMeter,
    MediaClock,
    Verdict,
)
from outbound.voice.sip import SipEngine

log = logging.getLogger("outbound.bootstrap.admission")


def admission_limits(settings: Settings) -> AdmissionLimits:
    """``[voice] admit_*`` as the admission control's limits."""
    v = settings.voice
    return AdmissionLimits(
        enabled=v.admit,
        max_clock_late_ms=v.admit_max_clock_late_ms,
        max_media_cpu=v.admit_max_media_cpu,
        max_load_per_core=v.admit_max_load_per_core,
        retry_seconds=v.admit_retry_seconds,
        settle_seconds=v.admit_settle_seconds,
    )


def build_admission(settings: Settings, engine: SipEngine, db: Engine, owner: str) -> Admission:
    """This dialer's admission control; its state goes to ``voice_admission`` (status view)."""
    limits = admission_limits(settings)
    nice = os.getpriority(os.PRIO_PROCESS, 0)  # media_nice, or what the process may have

    def report(verdict: Verdict) -> None:
        r = verdict.reading
        row = AdmissionRow(
            owner, verdict.state(), verdict.reason, r.clock_late_ms, r.media_cpu,
            r.load_per_core, r.calls, gate.admitted, gate.refused,
            datetime.fromtimestamp(verdict.at, UTC),
        )  # fmt: skip
        try:
            with db.begin() as conn:
                record_admission(conn, row)
        except Exception as exc:  # the state is for the status view; calls go on without it
            log.warning("voice admission: state not recorded: %s", exc)

    clock = MediaClock(settings.voice.clock_rate, limits.window_seconds)
    probe = ClockProbe(engine.record_clock, clock) if limits.enabled else None
    cpu = CpuMeter(nice, window=limits.window_seconds)
    gate = Admission(limits, clock, cpu, engine.active_calls, report, probe=probe)
    return gate


def forget(db: Engine, owner: str) -> None:
    """A dialer that stops removes its row (best effort: a stale row shows its age)."""
    with contextlib.suppress(Exception), db.begin() as conn:
        forget_admission(conn, owner)
