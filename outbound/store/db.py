"""Engines, transactions and the schema-version gate.

SQLite (embedded default): WAL, a generous busy timeout, foreign keys on, and every transaction
opened with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the write lock instead of
failing on a read→write upgrade. PostgreSQL (scale-out): psycopg 3, READ COMMITTED, and claims
use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from outbound.domain.errors import ConfigError, DatabaseUnavailable, SchemaError
from outbound.domain.masking import mask_text

if TYPE_CHECKING:  # alembic is imported where a migration runs: a read needs none of it
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg 3; anything else must be SQLite."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ConfigError(
        f"database url {make_url_safe(url)!r} is not supported; "
        "use sqlite:///path/to/outbound.db or postgresql://user@host:port/dbname"
    )


def make_url_safe(url: str) -> str:
    """The url with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable url>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 60000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


class _WriteGate:
    """One writer at a time per process, queued on a lock instead of SQLite's busy-sleep.

    SQLite's busy handler sleeps in growing steps (up to 100 ms) while another connection holds
    the write lock; threads of one process waiting on a Python lock instead are woken at once.
    Other processes still meet at SQLite's own lock (busy_timeout).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def begin(self, conn: Any) -> None:
        self.lock.acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        conn.info["outbound_write_gate"] = True

    def end(self, conn: Any) -> None:
        if conn.info.pop("outbound_write_gate", False):
            self.lock.release()


#: JSON columns are written without the spaces of ``json.dumps``'s ", " and ": ": about a tenth
#: of every stored decision. Readers parse the JSON, so rows written either way read the same.
#: (ASCII escaping stays: a lone surrogate from a client's JSON must not fail the UTF-8 write.)
compact_json = functools.partial(json.dumps, separators=(",", ":"))


def make_engine(url: str, *, pool: bool = True) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            poolclass=NullPool if not pool else None,
            hide_parameters=True,
            json_serializer=compact_json,
        )
        gate = _WriteGate()
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", gate.begin)
        event.listen(engine, "commit", gate.end, retval=False)
        event.listen(engine, "rollback", gate.end, retval=False)
        return engine
    # hide_parameters: error messages must never carry a phone number or a secret
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        hide_parameters=True,
        json_serializer=compact_json,
    )


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = _bare_config()
    cfg.attributes["engine"] = engine
    return cfg


_REVISION = re.compile(r'^(down_revision|revision) = (None|"([^"]+)")$', re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The newest migration: read from the version files' text when they form one chain (no
    alembic import, which costs a command that only reads ~0.2 s), else asked of alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for field, _, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if field == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_bare_config()).get_current_head()
    assert head is not None  # the package always ships at least one migration
    return head


def _bare_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision the database is stamped with (alembic's ``alembic_version``), or None."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to head; returns (from, to)."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, head_revision()


def ping(engine: Engine) -> None:
    """One round trip: raises when the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def require_current_schema(engine: Engine, url: str) -> None:
    """Refuse an unmigrated or newer-schema database with the command that fixes it."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    shown = make_url_safe(url)
    if current is None:
        raise SchemaError(
            f"database {shown} is not initialised; run: outbound --db '{shown}' db upgrade"
        )
    from alembic.script import ScriptDirectory

    known = {rev.revision for rev in ScriptDirectory.from_config(_bare_config()).walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"database {shown} is at schema {current!r}, newer than this outbound "
            f"(knows up to {head!r}); upgrade outbound (pip install -U outbound) before serving it"
        )
    raise SchemaError(
        f"database {shown} is at schema {current!r}, older than {head!r}; "
        f"run: outbound --db '{shown}' db upgrade"
    )


# --- faults: the database cannot be written or reached ------------------------------------------

_SQLITE_FAULTS = (
    (
        "readonly database",
        "is read-only; make the file and its directory (for the -wal and -shm files) writable "
        "by this user, or point --db / OUTBOUND_DATABASE_URL at a writable database",
    ),
    ("disk is full", "is on a full disk; free space, then retry"),
    ("disk i/o error", "had a disk I/O error; check the disk and the file"),
    ("database is locked", "stayed locked by another process for 60 s; retry when it is done"),
)


_SQLITE_NEEDLES = (*(needle for needle, _ in _SQLITE_FAULTS), "unable to open")


def is_fault(exc: BaseException) -> bool:
    """The database is unwritable or unreachable (not a bug in a statement).

    sqlite3 raises OperationalError for SQL syntax errors too: those stay bugs, with their
    traceback; only the messages of an unusable file count as faults.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if type(exc.orig).__module__ != "sqlite3":
        return True  # psycopg: connection and server-state problems
    message = str(exc.orig).lower()
    return any(needle in message for needle in _SQLITE_NEEDLES)


def describe_fault(exc: BaseException, url: str) -> str:
    """One line for an operator: which database, what is wrong with it, what to do."""
    shown = make_url_safe(url)
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = mask_text(detail[0]) if detail else type(exc).__name__
    lowered = first.lower()
    if shown.startswith("sqlite"):
        for needle, advice in _SQLITE_FAULTS:
            if needle in lowered:
                return f"database {shown} {advice} ({first})"
        if "unable to open database file" in lowered:
            return f"database {shown} cannot be opened: {_sqlite_open_problem(url)}"
    elif "refused" in lowered or "could not connect" in lowered or "connection failed" in lowered:
        target = make_url(normalize_url(url))
        where = f"{target.host or 'localhost'}:{target.port or 5432}"
        return (
            f"database {shown} is unreachable: nothing answers at {where} ({first}); "
            "start PostgreSQL there or fix --db / OUTBOUND_DATABASE_URL"
        )
    return f"database {shown} failed: {first}; check that it is up and writable"


def _sqlite_open_problem(url: str) -> str:
    database = make_url(url).database or ""
    path = Path(database.removeprefix("file:").split("?", 1)[0])
    if not path.parent.is_dir():
        return (
            f"directory {str(path.parent)!r} does not exist; create it, or fix --db / "
            "OUTBOUND_DATABASE_URL"
        )
    return (
        f"{str(path)!r} is not readable, or its directory is not writable, by this user; "
        "fix the permissions or point --db at another file"
    )


def unavailable(exc: BaseException, url: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(describe_fault(exc, url))


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """PostgreSQL: take the session-level advisory lock ``key`` if it is free (True if taken)."""
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())


def advisory_unlock(conn: Connection, key: int) -> None:
    """PostgreSQL: release the session-level advisory lock ``key`` held by ``conn``."""
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


#: the SQLite header's application_id (offset 68) of a file ``outbound demo`` made: "OBDM"
DEMO_APPLICATION_ID = int.from_bytes(b"OBDM", "big")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def demo_file_state(path: Path) -> str:
    """What ``path`` is, read from its header alone (no SQL on a file that may be anyone's):
    ``missing`` (absent or empty), ``demo`` (stamped by ``stamp_demo_file``) or ``other``."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except FileNotFoundError:
        return "missing"
    if not header:
        return "missing"
    stamped = int.from_bytes(header[68:72], "big") == DEMO_APPLICATION_ID
    return (
        "demo" if header.startswith(_SQLITE_MAGIC) and len(header) == 100 and stamped else "other"
    )


def stamp_demo_file(path: Path) -> None:
    """Create ``path`` as an empty SQLite file whose header says the demo made it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA application_id = {DEMO_APPLICATION_ID}")
        conn.execute("VACUUM")  # writes page 1 (the header) of the new file now
    finally:
        conn.close()
