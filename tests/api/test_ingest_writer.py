"""The group-commit writer on its own, on SQLite and PostgreSQL, with jobs that write a scratch
table: what shares a transaction, what is rolled back alone, what fails the whole group.

A first job that blocks holds the writer inside its group, so every job submitted meanwhile is
certain to be in the next group together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from outbound import bootstrap
from outbound.api.ingest import ALONE, GroupCommit, Job


@pytest.fixture
def engine(make_app: Callable[..., bootstrap.App]) -> Engine:
    app = make_app()
    with app.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (k VARCHAR(20) PRIMARY KEY)"))
    return app.engine


@pytest.fixture
def writer(engine: Engine) -> Iterator[GroupCommit]:
    w = GroupCommit(engine)
    yield w
    w.stop()


def insert(conn: Connection, key: str) -> str:
    conn.execute(text("INSERT INTO scratch (k) VALUES (:k)"), {"k": key})
    return key


def put(key: str, **kw: Any) -> Job[str]:
    return Job(lambda conn: insert(conn, key), **kw)


def rows(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT k FROM scratch")).scalars())


@contextmanager
def one_group(writer: GroupCommit) -> Iterator[None]:
    """Everything submitted inside the block is applied in the writer's next group."""
    release, inside = threading.Event(), threading.Event()

    def block(_conn: Connection) -> None:
        inside.set()
        release.wait(30)

    first = writer.submit(Job(block))
    assert inside.wait(30)
    yield
    release.set()
    first.result(30)


def outcome(future: Future[Any]) -> Any:
    try:
        return future.result(30)
    except Exception as exc:
        return type(exc)


def test_jobs_queued_together_are_applied_in_one_transaction(
    writer: GroupCommit, engine: Engine
) -> None:
    with one_group(writer):
        futures = [writer.submit(put(f"k{i}")) for i in range(10)]
    assert [f.result(30) for f in futures] == [f"k{i}" for i in range(10)]
    assert writer.stats.groups == 2 and writer.stats.largest == 10
    assert rows(engine) == {f"k{i}" for i in range(10)}


def test_a_failing_job_is_rolled_back_and_answered_alone(
    writer: GroupCommit, engine: Engine
) -> None:
    def half_then_fail(conn: Connection) -> str:
        insert(conn, "half")
        raise ValueError("found while applying")

    with one_group(writer):
        futures = [
            writer.submit(put("a")),
            writer.submit(put("a")),  # a twin: IntegrityError, answered with it
            writer.submit(Job(half_then_fail)),
            writer.submit(put("d")),
        ]
    assert [outcome(f) for f in futures] == ["a", IntegrityError, ValueError, "d"]
    assert rows(engine) == {"a", "d"} and writer.stats.groups == 2


def test_an_integrity_error_is_answered_by_the_jobs_conflict_handler(
    writer: GroupCommit, engine: Engine
) -> None:
    with one_group(writer):
        first = writer.submit(put("k"))
        twin = writer.submit(put("k", conflict=lambda conn, exc: "as the twin did"))
    assert (first.result(30), twin.result(30)) == ("k", "as the twin did")
    assert rows(engine) == {"k"}


def test_a_broken_connection_fails_the_whole_group_and_writes_none_of_it(
    writer: GroupCommit, engine: Engine
) -> None:
    def connection_lost(conn: Connection) -> str:
        raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))

    with one_group(writer):
        futures = [writer.submit(put("a")), writer.submit(Job(connection_lost))]
        futures.append(writer.submit(put("c")))
    assert [outcome(f) for f in futures] == [OperationalError] * 3
    assert rows(engine) == set() and writer.stats.failed_groups == 1
    assert writer.submit(put("a")).result(30) == "a"  # the next group is fine again


def test_a_bulk_answers_its_run_and_leaves_alone_jobs_to_their_own_apply(
    writer: GroupCommit, engine: Engine
) -> None:
    def bulk(conn: Connection, jobs: Sequence[Job[Any]]) -> list[Any]:
        insert(conn, "bulk-0")
        return ["bulk-0", ALONE, LookupError("its own answer")]

    with one_group(writer):
        futures = [writer.submit(put(f"k{i}", bulk=bulk)) for i in range(3)]
    assert [outcome(f) for f in futures] == ["bulk-0", "k1", LookupError]
    assert rows(engine) == {"bulk-0", "k1"}


def test_a_bulk_that_fails_is_rolled_back_and_each_job_applied_alone(
    writer: GroupCommit, engine: Engine
) -> None:
    def bulk(conn: Connection, jobs: Sequence[Job[Any]]) -> list[Any]:
        insert(conn, "k0")
        insert(conn, "k0")  # IntegrityError: the bulk's savepoint rolls back
        return []

    with one_group(writer):
        futures = [writer.submit(put(f"k{i}", bulk=bulk)) for i in range(3)]
        futures.append(writer.submit(put("k1", bulk=bulk)))  # its twin fails alone
    assert [outcome(f) for f in futures] == ["k0", "k1", "k2", IntegrityError]
    assert rows(engine) == {"k0", "k1", "k2"}
