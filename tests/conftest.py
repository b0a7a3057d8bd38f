"""Shared fixtures: a throwaway PostgreSQL cluster, fresh migrated databases, a frozen clock.

Store tests are parametrized over SQLite and PostgreSQL. The PostgreSQL cluster is started by
the fixture itself (initdb + pg_ctl on a free loopback port). Locally a missing PostgreSQL
skips those tests; in CI (``CI`` set) it is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest

from outbound import bootstrap
from outbound.config import load_settings
from outbound.store.db import make_engine, upgrade
from outbound.testing.postgres import PgCluster, PgServer, start_cluster

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


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


def pg_cluster(settings: Mapping[str, str] | None = None) -> PgCluster:
    """Start a new cluster (``settings``: extra server settings); in CI a missing PostgreSQL
    fails the test instead of skipping it."""
    try:
        return start_cluster(settings)
    except LookupError as exc:
        unavailable(str(exc))


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
