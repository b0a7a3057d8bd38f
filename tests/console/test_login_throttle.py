"""Login throttling per client address (issue 21, item 15) against a real API server on
loopback: beyond the burst an attempt is a 429 with Retry-After at once, hashes nothing and
writes no audit row; a password of spaces is refused; a disabled account can be enabled."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from outbound import bootstrap
from outbound.services.people import accounts
from outbound.store.tables import audit_events, console_users
from tests.api.conftest import Server, start_server
from tests.console.helpers import client, csrf_of, login
from tests.integration.test_cli import run

PASSWORD = "correct horse battery"


@pytest.fixture
def site(make_app: Callable[..., bootstrap.App]) -> Iterator[Server]:
    app = make_app(console={"login_burst": 3, "login_attempts_per_minute": 1.0})
    with app.engine.begin() as conn:
        accounts.add_user(conn, "alice", "compliance", PASSWORD, now=app.clock(), actor="test")
    server = start_server(app, "unused")
    yield server
    server.uvicorn.should_exit = True
    time.sleep(0.05)


def _login_events(app: bootstrap.App) -> int:
    with app.engine.begin() as conn:
        return int(
            conn.execute(
                select(func.count()).where(audit_events.c.action.like("console.login%"))
            ).scalar_one()
        )


def test_attempts_beyond_the_burst_are_429_at_once_with_no_hash_and_no_audit_row(
    site: Server,
) -> None:
    http = client(site.url)
    answers = [login(http, "alice", "wrong-one!!") for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert _login_events(site.app) == 3  # the burst: hashed, counted and audited as before

    token = csrf_of(http.get("/console/login").text)

    def attempt(_: int) -> httpx.Response:
        data = {"csrf": token, "name": "alice", "password": "wrong-two!!"}
        return http.post("/console/login", data=data)

    with ThreadPoolExecutor(10) as pool:
        throttled = list(pool.map(attempt, range(10)))
    assert [a.status_code for a in throttled] == [429] * 10
    assert all(1 <= int(a.headers["retry-after"]) <= 60 for a in throttled)
    assert "too many login attempts from your address; try again in" in throttled[0].text
    assert _login_events(site.app) == 3  # not one row per throttled attempt
    with site.app.engine.begin() as conn:  # and the account's own count did not move
        failures = conn.execute(select(console_users.c.failed_logins)).scalar_one()
    assert failures == 3
    # the right password is throttled too: the address, not the guess, is limited
    assert login(http, "alice", PASSWORD).status_code == 429


def test_a_password_of_spaces_is_refused_by_user_add(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("spaces")
    run(home, "db", "upgrade")
    proc = subprocess.run(
        [*_outbound(home), "user", "add", "bob", "--role", "operator", "--password-stdin"],
        input=" " * 12 + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
        env=_env(home),
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "password: 12 spaces is no password; give at least 12 characters" in proc.stderr
    assert "bob" not in run(home, "user", "list").stdout


def test_user_enable_lets_a_disabled_account_sign_in_again(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("enable")
    run(home, "db", "upgrade")
    run(home, "user", "add", "carol", "--role", "operator")
    run(home, "user", "disable", "carol")
    assert "disabled" in run(home, "user", "list").stdout
    assert (
        "console user 'carol' enabled; it may sign in again"
        in run(home, "user", "enable", "carol").stdout
    )
    assert "active" in run(home, "user", "list").stdout
    again = run(home, "user", "enable", "carol").stdout
    assert "console user 'carol' was already enabled; nothing changed" in again
    assert "console.user_enabled" in run(home, "audit", "list", "--json").stdout


def _outbound(home: object) -> list[str]:
    from tests.integration.test_cli import CONFIG_DIR, OUTBOUND

    return [OUTBOUND, "--config-dir", str(CONFIG_DIR)]


def _env(home: object) -> dict[str, str]:
    import os

    return {**os.environ, "OUTBOUND_DATABASE_URL": f"sqlite:///{home}/o.db"}
