"""Shared fixtures: a throwaway PostgreSQL cluster, fresh migrated databases, a frozen clock.

Store tests are parametrized over SQLite and PostgreSQL. The PostgreSQL cluster is started by
the fixture itself (initdb + pg_ctl on a free loopback port), once per run: under pytest-xdist
the first worker that needs it starts it (under a file lock) and the others connect to it; the
controller stops it at the end. Locally a missing PostgreSQL skips those tests; in CI (``CI``
set) it is a failure.

Under xdist (``make test``: ``--dist loadgroup``) every test is in a group (``xdist_group_of``;
``GroupScheduling`` runs each group on one worker): the SIP/voice tests share one group, the browser
console tests another, the tests that start PostgreSQL clusters of their own a third, the tests
that read the one shared ``outbound demo`` run (``demo_run``: the installed wheel's, so with the
wheel's own tests) a fourth, and every other module is a group of its own (its module fixtures
are built once). The longest groups (``FIRST``) are scheduled first.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from outbound import bootstrap
from outbound.config import load_settings
from outbound.store.db import make_engine, upgrade
from outbound.testing.postgres import PgCluster, PgServer, as_postgres, start_cluster

if TYPE_CHECKING:
    from tests.demo_run import DemoRun
    from tests.installed_wheel import InstalledWheel

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


#: where the shared cluster of an xdist run is described (in the run's base temp directory)
SHARED_PG = "shared-pg.json"

#: (path prefix, group): tests that must not run beside each other on two workers
GROUPS = (
    # the tests that read the one shared ``outbound demo`` run (``demo_run``, tests/demo_run.py)
    # and the wheel's, whose installed ``outbound`` that run is (``installed_wheel``)
    ("tests/integration/test_wheel_install.py", "demo"),
    ("tests/voice/test_demo_calls.py", "demo"),
    ("tests/integration/test_cli.py::test_demo_", "demo"),
    ("tests/integration/test_demo_logs.py", "demo"),
    ("tests/evidence/test_campaign_report.py::test_report_charts_each_send_", "demo"),
    ("tests/voice/", "voice"),  # SIP ports, real-time media: one worker
    ("tests/console/", "browser"),  # one console server and one Chromium per run
    ("tests/api/test_outage.py", "pg-own"),  # start and stop PostgreSQL clusters of their own
    ("tests/integration/test_pg_fixture_smoke.py", "pg-own"),
)
#: the longest groups start first, so no long one is left running alone at the end
FIRST = (
    "voice",
    "demo",
    "browser",
    "tests/integration/test_worker_processes.py",
)


def xdist_group_of(nodeid: str) -> str:
    """The xdist group of a test: a named group, else its module."""
    for prefix, group in GROUPS:
        if nodeid.startswith(prefix):
            return group
    return nodeid.split("::", 1)[0]


class GroupScheduling(LoadScopeScheduling):
    """``--dist loadgroup`` by ``xdist_group_of``: one work unit per group, in collection order
    (``FIRST`` first, see below), never reordered by size.

    Not xdist's own loadgroup: it appends each test's ``xdist_group`` mark to the test's node
    id, which pytest 9.2 no longer reads back (``Node.nodeid`` is computed), so every group was
    spread over all the workers; and its reorder by number of tests put the two-test wheel
    module, the longest, last."""

    def __init__(self, config: pytest.Config, log: Producer | None = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False  # collection order: the longest groups first

    def _split_scope(self, nodeid: str) -> str:
        return xdist_group_of(nodeid)


@pytest.hookimpl(optionalhook=True)  # -p no:xdist: no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> GroupScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None  # xdist picks its own
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        group = xdist_group_of(item.nodeid)
        return FIRST.index(group) if group in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the order inside each group stays


def _shared_dir(factory: pytest.TempPathFactory) -> Path:
    """The directory all xdist workers of this run share (the controller's base temp)."""
    return factory.getbasetemp().parent


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        cluster = pg_cluster()
        try:
            yield cluster
        finally:
            cluster.remove()
        return
    shared = _shared_dir(tmp_path_factory)
    with (shared / "shared-pg.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = shared / SHARED_PG
        if not info.exists():
            cluster = pg_cluster()
            described = {
                "port": cluster.port,
                "admin_url": cluster.admin_url,
                "bindir": str(cluster.bindir),
                "base": str(cluster.base),
            }
            info.write_text(json.dumps(described))
        described = json.loads(info.read_text())
    yield PgServer(described["port"], described["admin_url"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The xdist controller stops the cluster its workers shared."""
    if hasattr(session.config, "workerinput") or not hasattr(session.config, "_tmp_path_factory"):
        return
    info = session.config._tmp_path_factory.getbasetemp() / SHARED_PG
    if not info.exists():
        return
    described = json.loads(info.read_text())
    base = Path(described["base"])
    pg_ctl = str(Path(described["bindir"]) / "pg_ctl")
    stop = [pg_ctl, "-D", str(base / "data"), "-m", "immediate", "-w", "stop"]
    subprocess.run(as_postgres(stop), capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)
    info.unlink()


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the checkout (``python -m build``), built once per session."""
    from tests.installed_wheel import build_wheel  # it imports this module

    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed_wheel(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """The wheel installed into a fresh venv with its dependencies, once per session
    (tests/installed_wheel.py)."""
    from tests.installed_wheel import install

    return install(built_wheel, tmp_path_factory.mktemp("installed") / "venv")


@pytest.fixture(scope="session")
def demo_run(installed_wheel: InstalledWheel, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One ``outbound -vv demo`` per session, the installed wheel's, in a fresh directory,
    shared by the tests of the ``demo`` group (tests/demo_run.py)."""
    from tests.demo_run import run_demo

    return run_demo(tmp_path_factory.mktemp("demo"), installed_wheel)


@pytest.fixture(scope="session")
def migrated_templates() -> dict[str, str]:
    """Per session (per xdist worker): engine -> a database migrated to head once, which
    ``db_url`` copies for each test (a file copy; ``CREATE DATABASE … TEMPLATE``)."""
    return {}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: dict[str, str],
) -> str:
    """A fresh, migrated database on each engine: a copy of the session's migrated template
    (migrated from empty once per session: test_migrations still checks what they build)."""
    template = migrated_templates.get(request.param)
    if request.param == "sqlite":
        if template is None:
            template = str(tmp_path_factory.mktemp("template") / "outbound.db")
            _migrate(f"sqlite:///{template}")
            migrated_templates["sqlite"] = template
        shutil.copyfile(template, tmp_path / "outbound.db")
        return f"sqlite:///{tmp_path / 'outbound.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    if template is None:
        template = server.new_database().rsplit("/", 1)[1]
        _migrate(server.url(template))  # disposed: a template must have no connections
        migrated_templates["postgresql"] = template
    return server.new_database(template=template)


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


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
