"""The voice robot's operational tables, built into ``tables.metadata`` by ``tables``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, Integer, MetaData, String, Table
from sqlalchemy.types import TypeEngine

# A dialer's admission control (outbound.voice.admission): one row per dialer process, written
# when it starts or stops taking calls (and every minute while it refuses), deleted at its exit.
# What the status view shows; a row not updated for minutes is a dialer that died.


def admission_table(metadata: MetaData, ts: TypeEngine[datetime]) -> Table:
    return Table(
        "voice_admission",
        metadata,
        Column("owner", String(128), primary_key=True),  # host:pid, as the outbox's lease owner
        Column("state", String(16), nullable=False),  # admitting | refusing
        Column("reason", String(255), nullable=False, default=""),
        Column("clock_late_ms", Float),  # the media clock's lateness (None = not measured yet)
        Column("media_cpu", Float),  # share of all cores used at media priority (None = not yet)
        Column("load_per_core", Float, nullable=False, default=0.0),
        Column("calls", Integer, nullable=False, default=0),  # calls in progress then
        Column("admitted", Integer, nullable=False, default=0),  # admissions since start
        Column("refused", Integer, nullable=False, default=0),  # refusals since start
        Column("updated_at", ts, nullable=False),
    )
