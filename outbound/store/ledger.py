"""Cap counters: atomic reservation in the claim transaction, release on permanent rejection.

A reservation is one conditional UPDATE per cap, which the database serializes on the counter
row: ``UPDATE cap_counters SET n = n + 1 WHERE key = :key AND n + :older < :limit``.
``:older`` is the sum of the window's *past* day buckets (rolling windows), which no concurrent
reservation changes; so no two processes can both take the last unit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    Table,
    TextClause,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql

from outbound.domain.values import CapCheck
from outbound.store.tables import cap_counters


def insert_ignore(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING on both engines."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_pg_insert_ignore(table, tuple(rows[0]), tuple(keys)), list(rows))
        return
    conn.execute(insert_ignore_stmt(conn, table, keys), list(rows))


@functools.cache
def _pg_insert_ignore(table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> TextClause:
    """PostgreSQL's ``ON CONFLICT DO NOTHING`` as a typed text statement: SQLAlchemy cannot
    cache the ``on_conflict_do_nothing()`` construct and would compile it on every call."""
    names, binds = ", ".join(columns), ", ".join(f":{c}" for c in columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({binds}) ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def insert_ignore_stmt(conn: Connection, table: Table, keys: list[str]) -> Insert:
    """The statement behind ``insert_ignore`` (add ``.returning(...)`` to learn what went in).

    SQLite's ``INSERT OR IGNORE`` is cached by SQLAlchemy; its ``on_conflict_do_nothing()``
    form is compiled anew on every call, which is a measurable share of a dispatch.
    """
    return insert_ignore_for(conn.dialect.name, table, tuple(keys))


@functools.cache
def insert_ignore_for(dialect: str, table: Table, keys: tuple[str, ...]) -> Insert:
    """Built once per (dialect, table, keys): reusing the statement reuses its cache key."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return insert(table).prefix_with("OR IGNORE")


_TAKE = (
    update(cap_counters)
    .where(
        cap_counters.c.key == bindparam("b_key"),
        cap_counters.c.n + bindparam("b_older") < bindparam("b_limit"),
    )
    .values(n=cap_counters.c.n + 1)
)
_OLDER = select(func.coalesce(func.sum(cap_counters.c.n), 0)).where(
    cap_counters.c.key.in_(bindparam("b_keys", expanding=True))
)
_GIVE_BACK = (
    update(cap_counters)
    .where(cap_counters.c.key == bindparam("b_key"), cap_counters.c.n > 0)
    .values(n=cap_counters.c.n - 1)
)


_ADD_ONE = (
    update(cap_counters)
    .where(cap_counters.c.key == bindparam("b_key"))
    .values(n=cap_counters.c.n + 1)
)


def serialized(conn: Connection) -> bool:
    """Whether this transaction holds the database's one write lock (SQLite ``BEGIN
    IMMEDIATE``): then counters read in it cannot change under it, and a reservation the
    policy checked against them may be written without a per-key conditional UPDATE."""
    return conn.dialect.name == "sqlite"


def add_many(conn: Connection, keys: Sequence[str]) -> None:
    """Count reservations already checked under the write lock (see ``serialized``), in one
    statement; the counter rows must exist."""
    if keys:
        conn.execute(_ADD_ONE, [{"b_key": k} for k in keys])


def ensure_counters(conn: Connection, checks: Iterable[CapCheck]) -> None:
    """Create the counter rows a batch may reserve (one statement; existing rows stay)."""
    keys = sorted({c.key for c in checks})
    rows = [{"key": k, "customer_id": customer_of(k), "n": 0} for k in keys]
    insert_ignore(conn, cap_counters, rows, ["key"])


def reserve(
    conn: Connection,
    checks: Iterable[CapCheck],
    *,
    ensured: bool = False,
    past: Mapping[str, int] | None = None,
) -> tuple[list[str], CapCheck | None]:
    """Reserve every cap or none; returns (reserved keys, the cap that was full or None).

    ``ensured``: the counter rows exist already (``ensure_counters`` ran for the batch).
    ``past``: counters read earlier in this transaction; a rolling window's past day buckets
    are taken from them (no reservation adds to a past bucket, so they cannot have grown).
    """
    ordered = sorted(checks, key=lambda c: c.key)  # one lock order everywhere: no deadlocks
    if not ensured:
        ensure_counters(conn, ordered)
    taken: list[str] = []
    for check in ordered:
        older_keys = [k for k in check.window_keys if k != check.key]
        older = _older(conn, older_keys, past)
        result = conn.execute(_TAKE, {"b_key": check.key, "b_older": older, "b_limit": check.limit})
        if result.rowcount != 1:
            release(conn, taken)
            return [], check
        taken.append(check.key)
    return taken, None


def _older(conn: Connection, keys: list[str], past: Mapping[str, int] | None) -> int:
    if not keys:
        return 0
    if past is not None:
        return sum(max(past.get(k, 0), 0) for k in keys)
    return int(conn.execute(_OLDER, {"b_keys": keys}).scalar_one())


def customer_of(key: str) -> int:
    """The customer id a cap key belongs to (keys start with ``c<id>:``)."""
    return int(key[1 : key.index(":")])


def release(conn: Connection, keys: Iterable[str]) -> None:
    params = [{"b_key": k} for k in sorted(keys)]
    if params:
        conn.execute(_GIVE_BACK, params)
