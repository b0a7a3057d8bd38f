"""Tables of the operations view (issue 20), on the one ``metadata`` of ``tables``."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from outbound.store.tables import TS, metadata

# One row per running worker / scheduler / dialer process ("<host>:<pid>:<role>"), renewed every
# few seconds: `outbound status` and /metrics count the fresh ones (migration 0012_heartbeats).
heartbeats = Table(
    "heartbeats",
    metadata,
    Column("process", String(128), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("seen_at", TS, nullable=False),
)
