"""Console accounts and their server-side sessions: storage steps only (no hashing, no rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from outbound.store.tables import console_sessions, console_users


@dataclass(frozen=True)
class SessionRow:
    """A live session joined with its account."""

    user_id: int
    name: str
    role: str
    status: str
    csrf_token: str
    expires_at: datetime


def insert_user(conn: Connection, name: str, role: str, password_hash: str, now: datetime) -> int:
    result = conn.execute(
        insert(console_users).values(
            name=name,
            role=role,
            password_hash=password_hash,
            status="active",
            failed_logins=0,
            created_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return int(key[0])


def user_by_name(conn: Connection, name: str) -> Any:
    return conn.execute(select(console_users).where(console_users.c.name == name)).first()


def all_users(conn: Connection) -> list[Any]:
    return list(conn.execute(select(console_users).order_by(console_users.c.name)).all())


def set_status(conn: Connection, user_id: int, status: str) -> None:
    conn.execute(update(console_users).where(console_users.c.id == user_id).values(status=status))


def count_failure(conn: Connection, user_id: int) -> int:
    """One more failed login in a row, counted in the database (concurrent tries all count)."""
    conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(failed_logins=console_users.c.failed_logins + 1)
    )
    return int(
        conn.execute(
            select(console_users.c.failed_logins).where(console_users.c.id == user_id)
        ).scalar_one()
    )


def lock(conn: Connection, user_id: int, until: datetime) -> None:
    """Lock until ``until`` and start counting failures afresh."""
    conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(failed_logins=0, locked_until=until)
    )


def unlock(conn: Connection, user_id: int) -> None:
    """No lock and no failures counted: the next wrong password is the first again."""
    conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(failed_logins=0, locked_until=None)
    )


def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
    conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
    )


def record_login(conn: Connection, user_id: int, now: datetime) -> None:
    conn.execute(
        update(console_users)
        .where(console_users.c.id == user_id)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )


def insert_session(
    conn: Connection,
    token_hash: str,
    user_id: int,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
    conn.execute(
        insert(console_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
    )


def session(conn: Connection, token_hash: str, now: datetime) -> SessionRow | None:
    """The unexpired session with this token hash, or None."""
    row = conn.execute(
        select(
            console_users.c.id,
            console_users.c.name,
            console_users.c.role,
            console_users.c.status,
            console_sessions.c.csrf_token,
            console_sessions.c.expires_at,
        )
        .select_from(console_sessions.join(console_users))
        .where(console_sessions.c.token_hash == token_hash, console_sessions.c.expires_at > now)
    ).first()
    if row is None:
        return None
    return SessionRow(int(row.id), row.name, row.role, row.status, row.csrf_token, row.expires_at)


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


def delete_user_sessions(conn: Connection, user_id: int) -> int:
    result = conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))
    return int(result.rowcount or 0)
