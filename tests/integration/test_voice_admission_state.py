"""A dialer's admission state is kept per dialer for the status view, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

from outbound.store.db import make_engine
from outbound.store.voice_admission import (
    AdmissionRow,
    admission_states,
    forget_admission,
    record_admission,
)

AT = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def _row(owner: str, state: str, refused: int, reason: str = "") -> AdmissionRow:
    return AdmissionRow(owner, state, reason, 250.5, 0.42, 0.0, 3, 7, refused, AT)


def test_each_dialer_keeps_one_row_that_its_last_change_replaces(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            record_admission(conn, _row("host:1", "admitting", 0))
            record_admission(conn, _row("host:2", "admitting", 0))
            late = "media clock 250 ms late (admit_max_clock_late_ms = 200)"
            record_admission(conn, _row("host:1", "refusing", 4, late))
        with engine.begin() as conn:
            rows = admission_states(conn)
        assert [(r.owner, r.state, r.reason, r.refused) for r in rows] == [
            ("host:1", "refusing", "media clock 250 ms late (admit_max_clock_late_ms = 200)", 4),
            ("host:2", "admitting", "", 0),
        ]
        first = rows[0]
        assert (first.clock_late_ms, first.media_cpu, first.calls, first.admitted) == (
            250.5, 0.42, 3, 7,
        )  # fmt: skip
        assert first.updated_at == AT
        with engine.begin() as conn:
            forget_admission(conn, "host:1")
            assert [r.owner for r in admission_states(conn)] == ["host:2"]
    finally:
        engine.dispose()
