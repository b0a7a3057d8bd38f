"""Group commit over real HTTP: events queued together share one commit, a bad event is
answered alone, a group that cannot commit answers 503 to all of its events and writes none.

To make "queued together" certain rather than likely, the writer's first commit is held (a
SQLAlchemy ``commit`` listener, in the writer thread) until every request of the test has
joined the queue; the commits are counted by the same listener.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from outbound import bootstrap
from outbound.api.ingest import WRITER_THREAD
from outbound.api.signing import new_secret
from outbound.services.intake.sources import EVENT_TYPES, add_source
from outbound.store.tables import notifications, webhook_receipts
from tests.api.conftest import Server, start_server
from tests.api.test_api import shipping_event
from tests.integration.helpers import NY, add_customer, count


@pytest.fixture
def cached(make_app: Callable[..., bootstrap.App]) -> Iterator[Server]:
    """A server whose sources stay cached, so requests join the queue while a commit is held."""
    app = make_app()
    with app.engine.begin() as conn:
        secret = new_secret()
        add_source(
            conn, "shop", list(EVENT_TYPES), 10_000, secret=secret, now=app.clock(), actor="test"
        )
    srv = start_server(app, secret, source_cache_seconds=60)
    srv.post(shipping_event("warm-up", customer="nobody"))  # loads the sources: a 422
    try:
        yield srv
    finally:
        srv.uvicorn.should_exit = True


@dataclass(eq=False)  # a listener must be hashable
class Commits:
    """The writer's commits; the first waits until ``expected`` jobs were submitted."""

    server: Server
    expected: int
    fail: bool = False
    seen: list[float] = field(default_factory=list)

    def __call__(self, _conn: Any) -> None:
        if threading.current_thread().name != WRITER_THREAD:
            return
        if not self.seen:
            deadline = time.monotonic() + 30
            while self.server.writer.stats.submitted < self.expected:
                assert time.monotonic() < deadline, "the requests never reached the queue"
                threading.Event().wait(0.005)
        self.seen.append(time.monotonic())
        if self.fail:
            raise OperationalError("COMMIT", {}, ConnectionResetError("server closed"))


@contextmanager
def held(server: Server, requests: int, fail: bool = False) -> Iterator[Commits]:
    commits = Commits(server, server.writer.stats.submitted + requests, fail)
    event.listen(server.app.engine, "commit", commits)
    try:
        yield commits
    finally:
        event.remove(server.app.engine, "commit", commits)


def send_all(server: Server, requests: list[tuple[dict[str, Any], str | None]]) -> list[Any]:
    def send(request: tuple[dict[str, Any], str | None]) -> httpx.Response:
        body = json.dumps(request[0]).encode()
        headers = server.signed(body, webhook_id=request[1])
        return httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def test_events_that_arrive_together_share_one_commit(cached: Server) -> None:
    add_customer(cached.app, "C1", NY)
    requests = [(shipping_event(f"G{i}"), None) for i in range(12)]
    with held(cached, len(requests)) as commits:
        responses = send_all(cached, requests)
    assert [r.status_code for r in responses] == [202] * 12
    assert len(commits.seen) <= 2  # the first group, then every request queued behind it
    assert count(cached.app, notifications) == 12 and count(cached.app, webhook_receipts) == 12


def test_a_bad_event_in_a_group_is_answered_alone_and_its_neighbours_commit(
    cached: Server,
) -> None:
    add_customer(cached.app, "C1", NY)
    unknown_consent = {
        "type": "consent.changed",
        "data": {
            "customer": "nobody",
            "action": "grant",
            "channel": "sms",
            "purpose": "marketing",
            "source": "web",
        },
    }
    requests = [
        *[(shipping_event(f"N{i}"), None) for i in range(4)],
        (shipping_event("N9", customer="nobody"), None),  # unknown customer: found when applied
        (unknown_consent, None),  # the same, on the one-event path, between two bulk runs
        (shipping_event("R1"), "msg_replayed"),  # one of these two is a replay
        (shipping_event("R2"), "msg_replayed"),
        (shipping_event("D1"), "msg_twice"),  # the same request twice
        (shipping_event("D1"), "msg_twice"),
        (shipping_event("K1"), None),  # the same order under two ids
        (shipping_event("K1"), None),
        *[(shipping_event(f"M{i}"), None) for i in range(4)],
    ]
    with held(cached, len(requests)) as commits:
        responses = send_all(cached, requests)
    codes = [r.status_code for r in responses]
    assert codes[:4] == codes[-4:] == [202] * 4
    assert codes[4:6] == [422, 422]
    assert responses[4].json()["detail"][0]["loc"] == ["body", "data", "customer"]
    assert sorted(codes[6:8]) == [202, 401]
    twice, same_order = [r.json() for r in responses[8:10]], [r.json() for r in responses[10:12]]
    assert twice[0]["notification_ids"] == twice[1]["notification_ids"]
    assert sorted(r.get("duplicate", False) for r in twice) == [False, True]
    assert same_order[0]["notification_ids"] == same_order[1]["notification_ids"]
    assert sorted(r["created"] for r in same_order) == [False, True]
    assert len(commits.seen) <= 2
    assert count(cached.app, notifications) == 4 + 1 + 1 + 1 + 4
    assert count(cached.app, webhook_receipts) == 4 + 1 + 1 + 2 + 4


def test_a_group_that_cannot_commit_answers_503_to_every_event_and_writes_none(
    cached: Server,
) -> None:
    add_customer(cached.app, "C1", NY)
    requests = [(shipping_event(f"F{i}"), f"msg_f{i}") for i in range(8)]
    with held(cached, len(requests), fail=True) as commits:
        failed = send_all(cached, requests)
    assert [r.status_code for r in failed] == [503] * 8
    assert {r.headers["retry-after"] for r in failed} == {"5"}
    assert len(commits.seen) <= 2 and cached.writer.stats.failed_groups == len(commits.seen)
    assert count(cached.app, notifications) == 0 and count(cached.app, webhook_receipts) == 0
    retried = send_all(cached, requests)  # the senders retry: each is accepted once
    assert [r.status_code for r in retried] == [202] * 8
    assert not any(r.json().get("duplicate") for r in retried)
    assert count(cached.app, notifications) == 8 and count(cached.app, webhook_receipts) == 8
