"""The database as the edges see it: migrate it, read its schema revision, ask whether it is
ready, name its URL safely and explain a fault — without importing ``outbound.store``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from outbound.domain.errors import DatabaseUnavailable
from outbound.store import db


def safe_url(url: str) -> str:
    """``url`` for messages: the password masked."""
    return db.make_url_safe(url)


def upgrade(url: str) -> tuple[str | None, str]:
    """Migrate the database at ``url`` to the schema this version needs; (before, after)."""
    engine = db.make_engine(url)
    try:
        return db.upgrade(engine)
    finally:
        engine.dispose()


def revisions(url: str) -> tuple[str | None, str]:
    """(the database's schema revision or None when unmigrated, the one this version needs)."""
    engine = db.make_engine(url)
    try:
        return db.current_revision(engine), db.head_revision()
    finally:
        engine.dispose()


def open_current(url: str) -> Engine:
    """An engine on ``url`` whose schema is checked current (SchemaError naming the fix)."""
    engine = db.make_engine(url)
    db.require_current_schema(engine, url)
    return engine


def check_ready(engine: Engine, url: str) -> None:
    """The database answers and is at the current schema; SchemaError naming the fix if not."""
    db.ping(engine)
    db.require_current_schema(engine, url)


def is_fault(exc: BaseException) -> bool:
    """The database is unwritable or unreachable (not a bug in a statement)."""
    return db.is_fault(exc)


def unavailable(exc: BaseException, url: str) -> DatabaseUnavailable:
    """The one-line error for a fault: which database, what is wrong, what to do."""
    return db.unavailable(exc, url)


def demo_file_state(path: Path) -> str:
    """``missing``, ``demo`` (a file an earlier ``outbound demo`` made) or ``other``."""
    return db.demo_file_state(path)


def stamp_demo_file(path: Path) -> None:
    """Create ``path`` as an empty SQLite file marked as the demo's."""
    db.stamp_demo_file(path)
