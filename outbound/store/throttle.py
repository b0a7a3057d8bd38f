"""A provider's throughput limit, shared by every worker thread and process: a token bucket row.

One conditional UPDATE takes a token, so the database serializes takers on the row (the
``BEGIN IMMEDIATE`` write lock on SQLite, the row lock on PostgreSQL, whose READ COMMITTED
re-evaluates the WHERE clause on the updated row)::

    UPDATE rate_limits SET tokens = <refilled> - 1, stamp = :now
    WHERE key = :key AND <refilled> >= 1

``<refilled>`` is ``min(burst, tokens + (now - stamp) * rate)``. Times are wall-clock epoch
seconds because the bucket is shared across machines; a clock behind the stamp refills nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Float, case, literal, select, update
from sqlalchemy.sql.elements import ColumnElement

from outbound.store.ledger import insert_ignore
from outbound.store.tables import rate_limits


def _refilled(now: float, rate: float, burst: float) -> ColumnElement[float]:
    t = rate_limits.c
    elapsed = case((literal(now, Float) > t.stamp, literal(now, Float) - t.stamp), else_=0.0)
    grown = t.tokens + elapsed * rate
    return case((grown > burst, literal(burst, Float)), else_=grown)


def take(conn: Connection, key: str, *, rate: float, burst: float, now: float) -> float:
    """Take one token; returns 0.0 when taken, else the seconds until one will be available."""
    insert_ignore(conn, rate_limits, [{"key": key, "tokens": burst, "stamp": now}], ["key"])
    refilled = _refilled(now, rate, burst)
    t = rate_limits.c
    stamp = case((literal(now, Float) > t.stamp, literal(now, Float)), else_=t.stamp)
    result = conn.execute(
        update(rate_limits)
        .where(t.key == key, refilled >= 1.0)
        .values(tokens=refilled - 1.0, stamp=stamp)
    )
    if result.rowcount == 1:
        return 0.0
    available = float(conn.execute(select(refilled).where(t.key == key)).scalar_one())
    return max((1.0 - available) / rate, 0.001)


@dataclass
class DbTokenBucket:
    """The shared bucket ``key`` as a token source: ``take()`` returns 0.0 when a token was
    taken, else the seconds until one will be available (``channels.throttle`` waits)."""

    engine: Engine
    key: str
    rate: float
    burst: float = 1.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"throughput {self.rate!r} must be > 0 messages/s")
        self.burst = max(self.burst, 1.0)

    def take(self) -> float:
        with self.engine.begin() as conn:
            return take(conn, self.key, rate=self.rate, burst=self.burst, now=self.clock())
