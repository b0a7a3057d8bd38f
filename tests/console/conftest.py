"""A real console: ``outbound demo`` builds the database, ``outbound serve --role api`` serves it
on a free loopback port, accounts come from ``outbound user add``. Shared by the HTTP-level
tests and the headless-Chromium tests (one server per session: it is read-mostly, and each test
that changes state uses its own account or campaign)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from outbound import bootstrap
from outbound.config import load_settings
from outbound.services.people.inbound import Program, handle_mo
from outbound.store.db import make_engine
from outbound.store.tables import customers
from outbound.testing.postgres import free_port
from tests.cli_run import run_cli

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
PASSWORD = "console-test-password-1"
START_DEADLINE = 120.0  # seconds: a busy machine can be slow to import and bind


AUDIT_KEY = "console-audit-key-" + "0123456789abcdef" * 2
ERASURE_KEY = "console-erasure-key-0123456789abcdef"
CHECKPOINT = "audit-checkpoint.json"  # in the site's directory: [audit] checkpoint_to


def keys(directory: Path) -> dict[str, str]:
    """The site's secrets and console settings, as a deployment passes them (environment)."""
    return {
        "OUTBOUND_AUDIT_KEY": AUDIT_KEY,
        "OUTBOUND_AUDIT_CHECKPOINT_TO": str(directory / CHECKPOINT),
        "OUTBOUND_PRIVACY_ERASURE_KEY": ERASURE_KEY,
        "OUTBOUND_CONSOLE_ERASE_ROLES": '["compliance"]',
    }


def _env(directory: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        **keys(directory),
        # every test signs in from 127.0.0.1: the per-address throttle is tested on its own
        "OUTBOUND_CONSOLE_LOGIN_BURST": "10000",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
    }


@dataclass
class Site:
    url: str
    db_url: str
    directory: Path
    engine: Engine

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``outbound`` in this process: the site, not the script, is what these tests prove."""
        return run_cli(
            ["--db", self.db_url, "--config-dir", str(CONFIG_DIR), *args],
            input=stdin,
            env=_env(self.directory),
            cwd=self.directory,
        )

    def add_user(self, name: str, role: str, password: str = PASSWORD) -> None:
        done = self.cli(
            "user", "add", name, "--role", role, "--password-stdin", stdin=password + "\n"
        )
        assert done.returncode == 0, done.stderr

    def customer_id(self, external_id: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(customers.c.id).where(customers.c.external_id == external_id)
                ).scalar_one()
            )

    def phone(self, external_id: str) -> str:
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(customers.c.phone_e164).where(customers.c.external_id == external_id)
                ).scalar_one()
            )


def _send_stop(db_url: str, directory: Path, phone: str) -> None:
    """An inbound STOP through the service the SMPP adapter calls for every MO."""
    settings = load_settings(CONFIG_DIR, {"database": {"url": db_url}}, environ=keys(directory))
    app = bootstrap.build(settings)
    try:
        with app.engine.begin() as conn:
            handle_mo(
                conn,
                phone,
                "STOP",
                now=datetime.now(UTC),
                rules=app.rules,
                messaging=app.messaging(),
                program=Program(),
            )
    finally:
        app.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"outbound serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling interval, bounded by the deadline
    raise RuntimeError(f"outbound serve not ready at {url} within {START_DEADLINE:.0f} s")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("console")
    db_url = f"sqlite:///{directory / 'outbound-demo.db'}"
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "outbound",
            "--config-dir",
            str(CONFIG_DIR),
            "demo",
            "--file",
            str(directory / "outbound-demo.db"),
            "--log-channel",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_env(directory),
        cwd=directory,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    engine = make_engine(db_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    probe = Site(url, db_url, directory, engine)
    _send_stop(db_url, directory, probe.phone("C1002"))
    probe.add_user("alice", "compliance")
    probe.add_user("bob", "operator")
    written = probe.cli("audit", "checkpoint")  # to [audit] checkpoint_to
    assert written.returncode == 0, written.stderr
    log = (directory / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "outbound",
            "--db",
            db_url,
            "--config-dir",
            str(CONFIG_DIR),
            "serve",
            "--role",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(directory),
        cwd=directory,
    )
    try:
        _wait_ready(url, process)
        yield probe
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        engine.dispose()
