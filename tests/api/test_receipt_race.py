"""Two identical push receipts at once on PostgreSQL, in two API processes' writers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from outbound import bootstrap
from outbound.api.signing import new_secret
from outbound.domain.values import Kind
from outbound.services.intake.sources import add_source
from outbound.store.tables import audit_events, deliveries, webhook_receipts
from tests.api.conftest import Server, start_server
from tests.integration.helpers import NY, add_customer, count, shipping, trigger

PATIENCE = 60.0


@pytest.fixture
def twin_servers(make_app: Callable[..., bootstrap.App]) -> Iterator[tuple[Server, Server]]:
    """Two servers (two writers, two connection pools) on one database, like --workers 2."""
    first, second = make_app(), make_app()
    with first.engine.begin() as conn:
        secret = new_secret()
        add_source(conn, "app", ["push.receipt"], 1000, secret=secret, now=first.clock(), actor="t")
    servers = (start_server(first, secret), start_server(second, secret))
    yield servers
    for srv in servers:
        srv.uvicorn.should_exit = True


def _push_delivery(app: bootstrap.App) -> int:
    sub = {"kind": "fcm", "endpoint": "fcm-token-1"}
    cid = add_customer(app, "C1", NY, preference="push", push_subscriptions=[sub])
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    app.dispatcher().run_once()
    with app.engine.begin() as conn:
        return int(conn.execute(select(deliveries.c.id)).scalar_one())


def _waiting_on_locks(app: bootstrap.App) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        )


#: only PostgreSQL has two writers at once (SQLite has one per database file)
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("same_id", [True, False], ids=["same-webhook-id", "two-webhook-ids"])
def test_two_identical_receipts_at_once_are_answered_as_the_first_was(
    twin_servers: tuple[Server, Server], same_id: bool
) -> None:
    one, two = twin_servers
    delivery = _push_delivery(one.app)
    body = json.dumps({"delivery_id": delivery, "status": "opened"}).encode()
    headers = (
        [one.signed(body, webhook_id="msg_twin")] * 2
        if same_id
        else [
            one.signed(body),
            one.signed(body),
        ]
    )
    # hold the audit chain's head: the first receipt waits there, the second behind the first
    # (its push_receipts row), so both are in flight together before either commits
    with one.app.engine.connect() as holder:
        holder.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))

        def post(i: int) -> httpx.Response:
            srv = (one, two)[i]
            url = f"{srv.url}/v1/receipts"
            return httpx.post(url, content=body, headers=headers[i], timeout=PATIENCE)

        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = [pool.submit(post, i) for i in range(2)]
            deadline, pace = time.monotonic() + PATIENCE, threading.Event()
            while _waiting_on_locks(one.app) < 2:
                assert time.monotonic() < deadline, "the two receipts never met"
                pace.wait(0.02)
            holder.rollback()
            results = [a.result() for a in answers]
    assert [r.status_code for r in results] == [202, 202], [r.text for r in results]
    bodies: list[dict[str, Any]] = [r.json() for r in results]
    if same_id:  # the second is the first's answer again, marked as a duplicate
        assert sorted(b.get("duplicate", False) for b in bodies) == [False, True]
        assert [b["recorded"] for b in bodies] == [True, True]
    else:  # two receipts: one recorded the open, the other found nothing new
        assert sorted(b["recorded"] for b in bodies) == [False, True]
    assert count(one.app, audit_events, audit_events.c.action == "push.receipt") == 1
    assert count(one.app, webhook_receipts) == (1 if same_id else 2)
