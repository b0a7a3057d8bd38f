"""Console accounts: argon2 password hashes, login with lock-out, server-side sessions.

The cookie carries a random token; only its SHA-256 is stored, so a copy of the database does
not hold a usable session. Every account change and every login attempt is an audit event.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.store import accounts, audit

ROLES = ("compliance", "operator")
MIN_PASSWORD = 12
WRONG = "wrong user name or password"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong
    password; made at the first sign-in, not at import (every command would pay for it)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class LoginPolicy:
    session: timedelta
    max_failures: int
    lockout: timedelta


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: what pages may show them and what their actions are recorded as."""

    name: str
    role: str
    csrf_token: str

    @property
    def actor(self) -> str:
        return f"console:{self.name}"

    @property
    def may_operate(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class LoginResult:
    token: str | None  # the session cookie's value; None = refused
    refusal: str = ""


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValidationError(
            [
                FieldProblem(
                    "NAME", name, "is not a user name; use letters, digits and . _ @ - (1-64)"
                )
            ]
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(
            [FieldProblem("--role", role, f"is not a role; use one of {', '.join(ROLES)}")]
        )
    return role


def check_password(password: str) -> str:
    if password and not password.strip():
        raise ValidationError(
            f"password: {len(password)} spaces is no password; give at least {MIN_PASSWORD} "
            "characters that are not all whitespace, or leave it out to have one generated"
        )
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"password: {len(password)} characters is too short; give at least {MIN_PASSWORD}, "
            "or leave it out to have one generated"
        )
    return password


def add_user(
    conn: Connection, name: str, role: str, password: str, *, now: datetime, actor: str
) -> int:
    check_name(name), check_role(role), check_password(password)
    if accounts.user_by_name(conn, name) is not None:
        raise ValidationError(
            [FieldProblem("NAME", name, "already exists; pick another name or disable the old one")]
        )
    uid = accounts.insert_user(conn, name, role, _HASHER.hash(password), now)
    audit.append(
        conn, [audit.Event(actor, "console.user_added", _subject(name), {"role": role})], now
    )
    return uid


def disable_user(conn: Connection, name: str, *, now: datetime, actor: str) -> int:
    """Disable an account and end its sessions; returns how many sessions were ended."""
    row = _user(conn, name)
    accounts.set_status(conn, row.id, "disabled")
    ended = accounts.delete_user_sessions(conn, row.id)
    audit.append(
        conn,
        [audit.Event(actor, "console.user_disabled", _subject(name), {"sessions": ended})],
        now,
    )
    return ended


def enable_user(conn: Connection, name: str, *, now: datetime, actor: str) -> bool:
    """Let a disabled account sign in again (its password unchanged); False when it was
    already active (nothing changes then, and nothing is audited)."""
    row = _user(conn, name)
    if row.status == "active":
        return False
    accounts.set_status(conn, row.id, "active")
    audit.append(conn, [audit.Event(actor, "console.user_enabled", _subject(name), {})], now)
    return True


def unlock_user(conn: Connection, name: str, *, now: datetime, actor: str) -> datetime | None:
    """End a lock-out now; returns when it would have ended (None: the account was not locked,
    and nothing but the failure count changes)."""
    row = _user(conn, name)
    was = row.locked_until if row.locked_until is not None and row.locked_until > now else None
    accounts.unlock(conn, row.id)
    data = {"was_locked_until": was.isoformat() if was else None, "failures": row.failed_logins}
    audit.append(conn, [audit.Event(actor, "console.user_unlocked", _subject(name), data)], now)
    return was


def set_password(conn: Connection, name: str, password: str, *, now: datetime, actor: str) -> int:
    """A new password (its argon2 hash); the account's open sessions end, and a lock with
    them. Returns how many sessions were ended."""
    check_password(password)
    row = _user(conn, name)
    accounts.set_password_hash(conn, row.id, _HASHER.hash(password))
    ended = accounts.delete_user_sessions(conn, row.id)
    audit.append(
        conn,
        [audit.Event(actor, "console.password_changed", _subject(name), {"sessions": ended})],
        now,
    )
    return ended


def users(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every console account (never its password): name, role, status (``locked`` while a
    lock-out runs), created_at, last_login_at."""
    return [
        {
            "name": r.name,
            "role": r.role,
            "status": "locked"
            if r.status == "active" and r.locked_until and r.locked_until > now
            else r.status,
            "created_at": r.created_at,
            "last_login_at": r.last_login_at,
        }
        for r in accounts.all_users(conn)
    ]


def require_user(conn: Connection, name: str) -> None:
    """NotFoundError unless there is a console account ``name``."""
    _user(conn, name)


def _user(conn: Connection, name: str) -> Any:
    row = accounts.user_by_name(conn, name)
    if row is None:
        raise NotFoundError(f"console user {name!r} not found; see: outbound user list")
    return row


def _subject(name: str) -> str:
    return f"console_user:{name[:64]}"


def login(
    conn: Connection, name: str, password: str, *, now: datetime, policy: LoginPolicy
) -> LoginResult:
    """Check a password; a run of failures locks the account for ``policy.lockout``.

    The refusal never says whether the name exists, except that a locked account says so
    (its owner needs to know why a right password does not work).
    """
    row = accounts.user_by_name(conn, name)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        _event(conn, name, "console.login_refused", {"reason": "locked"}, now)
        return LoginResult(
            None,
            f"account locked until {row.locked_until:%H:%M} UTC after "
            f"{policy.max_failures} failed logins; try again then",
        )
    right = _verify(row.password_hash if row is not None else _dummy_hash(), password)
    if row is None:
        _event(conn, name, "console.login_failed", {"reason": "unknown user"}, now)
        return LoginResult(None, WRONG)
    if not right:
        _failure(conn, row, now, policy)
        return LoginResult(None, WRONG)
    if row.status != "active":
        _event(conn, name, "console.login_refused", {"reason": row.status}, now)
        return LoginResult(None, "this account is disabled; ask an administrator")
    accounts.record_login(conn, row.id, now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    accounts.insert_session(conn, token_hash(token), row.id, csrf, now, now + policy.session)
    _event(conn, name, "console.login", {"role": row.role}, now)
    return LoginResult(token)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _failure(conn: Connection, row: Any, now: datetime, policy: LoginPolicy) -> None:
    """One more failure in a row; the last allowed one locks the account and restarts the count."""
    failed = accounts.count_failure(conn, int(row.id))
    locked = failed >= policy.max_failures
    if locked:
        accounts.lock(conn, int(row.id), now + policy.lockout)
    data = {"reason": "wrong password", "failures": failed, "locked": locked}
    _event(conn, str(row.name), "console.login_failed", data, now)


def _event(
    conn: Connection, name: str, action: str, data: dict[str, object], now: datetime
) -> None:
    audit.append(conn, [audit.Event(f"console:{name[:64]}", action, _subject(name), data)], now)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def viewer(conn: Connection, token: str | None, now: datetime) -> Viewer | None:
    """The signed-in account behind a session cookie, or None (no, expired or disabled)."""
    if not token:
        return None
    found = accounts.session(conn, token_hash(token), now)
    if found is None or found.status != "active":
        return None
    return Viewer(found.name, found.role, found.csrf_token)


def logout(conn: Connection, token: str, *, now: datetime) -> None:
    found = accounts.session(conn, token_hash(token), now)
    accounts.delete_session(conn, token_hash(token))
    if found is not None:
        _event(conn, found.name, "console.logout", {}, now)
