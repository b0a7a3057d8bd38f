"""The console's chain status (``services.chain_status.ChainMonitor``) on each engine: a page
load reads only what was appended, and every rewrite of the chain is still found.

The attacks are issue 10's (a row edited with every later hash recomputed; the tail deleted
and the head moved back), run between two page loads, after the monitor cached a clean walk.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.services.views.chain_status import ChainMonitor, ChainStatus
from outbound.store import audit
from outbound.store.tables import audit_events
from tests.conftest import FrozenClock
from tests.evidence.conftest import AppFactory
from tests.integration.helpers import (
    NY,
    add_customer,
    rewrite_chain_from,
    shipping,
    trigger,
    truncate_chain,
)

AUDIT_KEY = "a" * 16 + "0123456789abcdef"
HOUR = timedelta(hours=1)


def _app(make_app: AppFactory, notices: int = 4) -> bootstrap.App:
    app = make_app(audit={"key": AUDIT_KEY})
    cid = add_customer(app, "C1", NY, preference="sms")
    for i in range(notices):
        trigger(app, Kind.SHIPPING, cid, shipping(f"A{i}"))
    return app


def _head(app: bootstrap.App) -> int:
    with app.engine.begin() as conn:
        return audit.verify(conn).checked


def _status(app: bootstrap.App, monitor: ChainMonitor, *, whole: bool = False) -> ChainStatus:
    with app.engine.begin() as conn:
        return monitor.status(conn, app.clock(), whole=whole)


def test_a_second_load_reads_no_row_and_then_only_the_rows_appended_since(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    monitor = ChainMonitor(app.audit_key, "", HOUR)
    total = _head(app)
    first = _status(app, monitor)
    assert (first.how, first.walked, first.result.ok, first.result.signed) == (
        "whole walk",
        total,
        True,
        total,
    )
    again = _status(app, monitor)
    assert (again.how, again.walked, again.result.checked) == ("cached", 0, total)
    cid = add_customer(app, "C2", NY, preference="sms")
    trigger(app, Kind.SHIPPING, cid, shipping("B1"))
    grown = _head(app)
    assert grown > total
    later = _status(app, monitor)
    assert (later.how, later.walked, later.result.checked) == (
        "appended rows",
        grown - total,
        grown,
    )
    assert later.result.ok and later.result.signed == grown and later.head_seq == grown


def test_a_rewrite_with_recomputed_hashes_between_loads_is_found_on_the_next_load(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    monitor = ChainMonitor(app.audit_key, "", HOUR)
    assert _status(app, monitor).result.ok
    with app.engine.begin() as conn:
        rewrite_chain_from(conn, 2)
    after = _status(app, monitor)
    assert after.how == "whole walk"
    assert (after.result.ok, after.result.broken_at) == (False, 2)
    assert "MAC does not match" in after.result.problem


def test_a_deleted_tail_is_found_against_the_checkpoint_file(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = _app(make_app)
    target = tmp_path / "audit-checkpoint.json"
    checkpoint = app.checkpoints().write(str(target))
    monitor = ChainMonitor(app.audit_key, str(target), HOUR)
    first = _status(app, monitor)
    assert first.result.ok and first.checkpoint is not None
    assert first.checkpoint.checkpoint == checkpoint and first.result.checkpoint == checkpoint
    with app.engine.begin() as conn:
        kept = truncate_chain(conn, 2)
    after = _status(app, monitor)
    assert (after.result.ok, after.result.broken_at) == (False, kept + 1)
    assert "2 events deleted from the tail" in after.result.problem


def test_a_new_checkpoint_of_an_unchanged_head_is_checked_without_a_whole_walk(
    make_app: AppFactory, tmp_path: Path, clock: FrozenClock
) -> None:
    app = _app(make_app)
    target = tmp_path / "audit-checkpoint.json"
    monitor = ChainMonitor(app.audit_key, str(target), HOUR)
    before = _status(app, monitor)
    assert before.checkpoint is not None and before.checkpoint.checkpoint is None
    assert "no checkpoint file" in before.checkpoint.problem
    clock.advance(minutes=5)
    checkpoint = app.checkpoints().write(str(target))
    after = _status(app, monitor)
    assert (after.how, after.walked) == ("appended rows", 0)
    assert after.result.ok and after.result.checkpoint == checkpoint


def _edit_actor(app: bootstrap.App, seq: int, actor: str) -> str:
    """Change one row's actor in place, its stored hash left alone; returns the old actor."""
    with app.engine.begin() as conn:
        row = audit_events.c
        old = conn.execute(select(row.actor).where(row.seq == seq)).scalar_one()
        conn.execute(update(audit_events).where(row.seq == seq).values(actor=actor))
    return str(old)


def test_an_old_row_edited_in_place_is_found_by_a_whole_walk_on_request(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    monitor = ChainMonitor(app.audit_key, "", HOUR)
    assert _status(app, monitor).result.ok
    _edit_actor(app, 2, "mallory")
    assert _status(app, monitor).how == "cached"  # the head did not move: nothing re-read
    whole = _status(app, monitor, whole=True)
    assert (whole.how, whole.result.ok, whole.result.broken_at) == ("whole walk", False, 2)
    assert "does not match its hash" in whole.result.problem


def test_an_old_row_edited_in_place_is_found_once_the_last_whole_walk_is_too_old(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = _app(make_app)
    monitor = ChainMonitor(app.audit_key, "", HOUR)
    assert _status(app, monitor).result.ok
    _edit_actor(app, 2, "mallory")
    clock.advance(minutes=59)
    assert _status(app, monitor).result.ok  # within [console] verify_full_minutes: cached
    clock.advance(minutes=2)
    aged = _status(app, monitor)
    assert (aged.how, aged.result.ok, aged.result.broken_at) == ("whole walk", False, 2)


def test_a_checkpoint_file_not_signed_by_the_key_is_named_and_the_chain_still_verified(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = _app(make_app)
    target = tmp_path / "audit-checkpoint.json"
    app.checkpoints().write(str(target))
    target.write_text(target.read_text().replace('"seq": ', '"seq": 1'), encoding="utf-8")
    status = _status(app, ChainMonitor(app.audit_key, str(target), HOUR))
    assert status.result.ok and status.result.checkpoint is None
    assert status.checkpoint is not None and status.checkpoint.checkpoint is None
    assert "not signed by the configured audit key" in status.checkpoint.problem
