"""Each dialer's admission state (``voice_admission``): taking calls or not, why, what it saw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from outbound.store.tables import voice_admission


@dataclass(frozen=True)
class AdmissionRow:
    owner: str
    state: str  # admitting | refusing
    reason: str
    clock_late_ms: float | None
    media_cpu: float | None
    load_per_core: float
    calls: int
    admitted: int
    refused: int
    updated_at: datetime


def record_admission(conn: Connection, row: AdmissionRow) -> None:
    """Insert or replace the row of ``row.owner``."""
    values = {
        "state": row.state,
        "reason": row.reason[:255],
        "clock_late_ms": row.clock_late_ms,
        "media_cpu": row.media_cpu,
        "load_per_core": row.load_per_core,
        "calls": row.calls,
        "admitted": row.admitted,
        "refused": row.refused,
        "updated_at": row.updated_at,
    }
    t = voice_admission
    if conn.execute(update(t).where(t.c.owner == row.owner).values(**values)).rowcount == 0:
        conn.execute(insert(t).values(owner=row.owner, **values))  # only its dialer writes it


def admission_states(conn: Connection) -> list[AdmissionRow]:
    """Every dialer's last recorded state, by owner."""
    rows = conn.execute(select(voice_admission).order_by(voice_admission.c.owner)).all()
    return [AdmissionRow(**r._mapping) for r in rows]


def forget_admission(conn: Connection, owner: str) -> None:
    """A dialer that exits cleanly removes its row."""
    conn.execute(delete(voice_admission).where(voice_admission.c.owner == owner))
