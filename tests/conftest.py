"""Shared fixtures: a throwaway PostgreSQL cluster, fresh migrated databases, a frozen clock.

Store tests are parametrized over SQLite and PostgreSQL. The PostgreSQL cluster is started by
the fixture itself (initdb + pg_ctl on a free loopback port). Locally a missing PostgreSQL
skips those tests; in CI (``CI`` set) it is a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text

from outbound import bootstrap
from outbound.config import load_settings
from outbound.store.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable(message: str) -> NoReturn:
    """A real service the tests need is missing: a failure in CI, a skip on a laptop."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, hint: str = "run scripts/install-system-deps.sh") -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} not installed; {hint}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    port: int
    admin_url: str

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PgCluster(PgServer):
    """A cluster of our own: initdb into a temp dir, pg_ctl start/stop on a free loopback port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="outbound-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.data.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            os.chown(self.data, user.pw_uid, user.pw_gid)
        port = _free_port()
        super().__init__(port, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            _as_postgres([str(self.bindir / tool), *args]), check=check, capture_output=True
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def pg_cluster() -> PgCluster:
    """Start a new cluster; in CI a missing PostgreSQL fails the test instead of skipping it."""
    bindir = _pg_bindir()
    if bindir is None:
        message = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql"
        )
        unavailable(message)
    cluster = PgCluster(bindir)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    cluster = pg_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outbound.db'}"
    else:
        url = request.getfixturevalue("pg_server").new_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


class FrozenClock:
    """Time is injected: tests move it by hand."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FrozenClock:
    # Thursday 2026-11-26 15:00 UTC: 10:00 in New York, 16:00 in Berlin, 23:00 in Shanghai.
    return FrozenClock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))


@pytest.fixture
def make_app(db_url: str, clock: FrozenClock) -> Iterator[Callable[..., bootstrap.App]]:
    apps: list[bootstrap.App] = []

    def build(**overrides: dict[str, object]) -> bootstrap.App:
        settings = load_settings(CONFIG_DIR, {"database": {"url": db_url}, **overrides}, environ={})
        app = bootstrap.build(settings, clock=clock)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()
