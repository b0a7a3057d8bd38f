"""Console accounts on each engine with a frozen clock: hashes, session expiry, lock-out expiry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from outbound.domain.errors import ValidationError
from outbound.services.people import accounts
from outbound.store.db import make_engine
from outbound.store.tables import audit_events, console_users
from tests.conftest import FrozenClock

POLICY = accounts.LoginPolicy(
    session=timedelta(minutes=30), max_failures=3, lockout=timedelta(minutes=15)
)
PASSWORD = "a-long-enough-password"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _add(engine: Engine, clock: FrozenClock, name: str = "alice") -> None:
    with engine.begin() as conn:
        accounts.add_user(conn, name, "compliance", PASSWORD, now=clock(), actor="test")


def _login(engine: Engine, clock: FrozenClock, password: str = PASSWORD) -> accounts.LoginResult:
    with engine.begin() as conn:
        return accounts.login(conn, "alice", password, now=clock(), policy=POLICY)


def test_only_an_argon2id_hash_of_the_password_is_stored(
    engine: Engine, clock: FrozenClock
) -> None:
    _add(engine, clock)
    with engine.connect() as conn:
        stored = conn.execute(select(console_users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_a_session_ends_when_its_time_is_up(engine: Engine, clock: FrozenClock) -> None:
    _add(engine, clock)
    token = _login(engine, clock).token
    assert token
    clock.advance(minutes=29)
    with engine.connect() as conn:
        seen = accounts.viewer(conn, token, clock())
    assert seen is not None and seen.name == "alice" and seen.role == "compliance"
    clock.advance(minutes=1)
    with engine.connect() as conn:
        assert accounts.viewer(conn, token, clock()) is None


def test_a_lock_ends_after_the_lockout_and_the_right_password_works_again(
    engine: Engine, clock: FrozenClock
) -> None:
    _add(engine, clock)
    for _ in range(3):
        assert _login(engine, clock, "wrong-password").token is None
    refused = _login(engine, clock)
    assert refused.token is None and "locked until 15:15 UTC" in refused.refusal
    clock.advance(minutes=15)
    assert _login(engine, clock).token


def test_a_success_resets_the_failure_count(engine: Engine, clock: FrozenClock) -> None:
    _add(engine, clock)
    for _ in range(2):
        _login(engine, clock, "wrong-password")
    assert _login(engine, clock).token
    for _ in range(2):
        _login(engine, clock, "wrong-password")
    assert _login(engine, clock).token  # 2 + 2 failures, never 3 in a row


def test_an_unknown_name_is_refused_with_the_same_words_and_audited(
    engine: Engine, clock: FrozenClock
) -> None:
    _add(engine, clock)
    with engine.begin() as conn:
        result = accounts.login(conn, "mallory", PASSWORD, now=clock(), policy=POLICY)
    assert (result.token, result.refusal) == (None, "wrong user name or password")
    with engine.connect() as conn:
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc())).first()
    assert last is not None
    assert (last.action, last.subject) == ("console.login_failed", "console_user:mallory")
    assert json.loads(last.data) == {"reason": "unknown user"}


def test_a_second_account_with_the_same_name_is_refused_naming_it(
    engine: Engine, clock: FrozenClock
) -> None:
    _add(engine, clock)
    with (
        pytest.raises(ValidationError, match="NAME: 'alice' already exists"),
        engine.begin() as conn,
    ):
        accounts.add_user(conn, "alice", "operator", PASSWORD, now=clock(), actor="test")


def test_a_short_password_is_refused_without_echoing_it(engine: Engine, clock: FrozenClock) -> None:
    with pytest.raises(ValidationError) as caught, engine.begin() as conn:
        accounts.add_user(conn, "bob", "operator", "hunter2", now=clock(), actor="test")
    assert "7 characters is too short" in str(caught.value)
    assert "hunter2" not in str(caught.value)
