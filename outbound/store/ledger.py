"""Cap counters: atomic reservation in the claim transaction, release on permanent rejection.

A reservation is one conditional UPDATE per cap, which the database serializes on the counter
row: ``UPDATE cap_counters SET n = n + 1 WHERE key = :key AND n + :older < :limit``.
``:older`` is the sum of the window's *past* day buckets (rolling windows), which no concurrent
reservation changes; so no two processes can both take the last unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql

from outbound.domain.values import CapCheck
from outbound.store.tables import cap_counters


def insert_ignore(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING on both engines."""
    if not rows:
        return
    conn.execute(insert_ignore_stmt(conn, table, keys), list(rows))


def insert_ignore_stmt(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """The statement behind ``insert_ignore`` (add ``.returning(...)`` to learn what went in).

    SQLite's ``INSERT OR IGNORE`` is cached by SQLAlchemy; its ``on_conflict_do_nothing()``
    form is compiled anew on every call, which is a measurable share of a dispatch.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    return insert(table).prefix_with("OR IGNORE")


def reserve(conn: Connection, checks: Iterable[CapCheck]) -> tuple[list[str], CapCheck | None]:
    """Reserve every cap or none; returns (reserved keys, the cap that was full or None)."""
    ordered = sorted(checks, key=lambda c: c.key)  # one lock order everywhere: no deadlocks
    rows = [{"key": c.key, "customer_id": customer_of(c.key), "n": 0} for c in ordered]
    insert_ignore(conn, cap_counters, rows, ["key"])
    taken: list[str] = []
    for check in ordered:
        older_keys = [k for k in check.window_keys if k != check.key]
        older = 0
        if older_keys:
            older = int(
                conn.execute(
                    select(func.coalesce(func.sum(cap_counters.c.n), 0)).where(
                        cap_counters.c.key.in_(older_keys)
                    )
                ).scalar_one()
            )
        result = conn.execute(
            update(cap_counters)
            .where(cap_counters.c.key == check.key, cap_counters.c.n + older < check.limit)
            .values(n=cap_counters.c.n + 1)
        )
        if result.rowcount != 1:
            release(conn, taken)
            return [], check
        taken.append(check.key)
    return taken, None


def customer_of(key: str) -> int:
    """The customer id a cap key belongs to (keys start with ``c<id>:``)."""
    return int(key[1 : key.index(":")])


def release(conn: Connection, keys: Iterable[str]) -> None:
    for key in sorted(keys):
        conn.execute(
            update(cap_counters)
            .where(cap_counters.c.key == key, cap_counters.c.n > 0)
            .values(n=cap_counters.c.n - 1)
        )
