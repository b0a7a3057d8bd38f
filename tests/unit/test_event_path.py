"""One webhook event, followed from ``api/events.handle`` to its committed notification: the
layers go down only (api -> services -> store), the services read the store once and write it
once, and no file of api, services, store, bootstrap or schemas is entered twice.

How files are counted (``benchmarks/event_path.py``, ``outbound/testing/callpath.py``): a call
from one file of the package into another; the pure helpers (domain, policy, observability,
config, channels) may be called from any layer and as often as needed, but a call out of a
helper into a ranked layer would show as a climb. Run ``python -m benchmarks.event_path`` to
see the whole path.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from benchmarks.event_path import add_customer, follow, layer, report
from outbound import bootstrap
from outbound.config import load_settings
from outbound.store.db import make_engine, upgrade
from outbound.store.tables import audit_events, deliveries, notifications
from outbound.testing.callpath import trace
from tests.conftest import CONFIG_DIR, FrozenClock


@pytest.fixture(params=["audit key", "no audit key"])
def app(
    tmp_path: Path, clock: FrozenClock, request: pytest.FixtureRequest
) -> Iterator[bootstrap.App]:
    """With a key every audit row gets a MAC (one more store step); without one, none."""
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    config = tmp_path / "config"  # the repository's config without an audit.key a run left
    shutil.copytree(CONFIG_DIR, config, ignore=shutil.ignore_patterns("audit.key"))
    audit = {"key": "k" * 40} if request.param == "audit key" else {}
    built = bootstrap.build(
        load_settings(config, {"database": {"url": url}, "audit": audit}, environ={}),
        clock=clock,
    )
    add_customer(built)
    yield built
    built.close()


def test_a_shipping_event_enters_each_file_once_and_the_store_twice(app: bootstrap.App) -> None:
    body, path = follow(app)
    found = report(path)
    assert body["created"] is True
    with app.engine.begin() as conn:  # committed: the notification, its rung, its audit event
        nid = conn.execute(
            select(notifications.c.id).where(notifications.c.dedupe_key.like("shipping:%:A1:%"))
        ).scalar_one()
        assert body["notification_ids"] == [nid]
        assert conn.execute(
            select(deliveries.c.channel).where(deliveries.c.notification_id == nid)
        ).scalars().all() == ["sms"]
        assert conn.execute(
            select(audit_events.c.action).where(audit_events.c.subject == f"notification#{nid}")
        ).scalars().all() == ["notification.created"]
    assert found.files[0] == "outbound/api/events.py"
    assert found.climbs == [], "calls up a layer:\n" + "\n".join(map(str, found.climbs))
    assert found.revisits == [], "files entered again:\n" + "\n".join(map(str, found.revisits))
    into_store = [
        f"{s.callee}:{s.function}"
        for s in path.steps
        if layer(s.caller) == "services" and layer(s.callee) == "store"
    ]
    assert into_store == [
        "outbound/store/snapshots.py:send_view_by_ref",
        "outbound/store/notifications.py:commit_plan",
    ]


def test_the_tracer_names_a_file_entered_again_after_it_returned_and_while_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a`` calls ``b`` twice (the second call re-enters a file already left), and ``b``
    calls back into ``a`` while ``a`` waits below it (re-entered while open)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        textwrap.dedent(
            """
            from pkg import b

            def run():
                b.one()
                return b.two()

            def helper():
                return 2
            """
        )
    )
    (package / "b.py").write_text(
        textwrap.dedent(
            """
            def one():
                return 1

            def two():
                from pkg import a
                return a.helper()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from pkg import a  # type: ignore[import-not-found]

    result, path = trace(a.run, package)
    assert result == 2
    steps = [(s.caller, s.callee, s.function, s.revisit, s.while_open) for s in path.steps]
    assert steps == [
        ("", "pkg/a.py", "run", False, False),
        ("pkg/a.py", "pkg/b.py", "one", False, False),
        ("pkg/a.py", "pkg/b.py", "two", True, False),
        ("pkg/b.py", "pkg/a.py", "helper", True, True),
    ]
