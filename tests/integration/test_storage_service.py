"""The database as the edges see it (``services.storage``), on SQLite and PostgreSQL, and the
audit checkpoints the scheduler writes only when it has a key and a target."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.domain.errors import SchemaError
from outbound.services import storage
from outbound.services.checkpoints import Checkpoints
from outbound.store.db import make_engine
from tests.conftest import FrozenClock


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nobody has migrated yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("pg_server").new_database()
    return url


def test_an_unmigrated_database_is_not_ready_and_the_error_names_the_upgrade(
    empty_url: str,
) -> None:
    engine = make_engine(empty_url)
    try:
        with pytest.raises(
            SchemaError, match=r"is not initialised; run: outbound --db .* db upgrade"
        ):
            storage.check_ready(engine, empty_url)
    finally:
        engine.dispose()


def test_upgrade_moves_an_empty_database_to_the_head_and_then_it_is_ready(empty_url: str) -> None:
    current, head = storage.revisions(empty_url)
    assert current is None and head.isdigit()  # heads are numbered (0009, …), renumbered at merge
    assert storage.upgrade(empty_url) == (None, head)
    assert storage.revisions(empty_url) == (head, head)
    assert storage.upgrade(empty_url) == (head, head)  # a second upgrade changes nothing
    engine = make_engine(empty_url)
    try:
        storage.check_ready(engine, empty_url)  # no SchemaError
    finally:
        engine.dispose()


def test_a_url_with_a_password_is_shown_masked() -> None:
    shown = storage.safe_url("postgresql://outbound:hunter2@db.example:5432/outbound")
    assert "hunter2" not in shown
    assert shown.startswith("postgresql://outbound:")
    assert shown.endswith("@db.example:5432/outbound")


def test_checkpoints_are_periodic_only_with_a_key_and_a_target(
    db_url: str, clock: FrozenClock
) -> None:
    engine = make_engine(db_url)
    try:
        assert Checkpoints(engine, b"k" * 32, clock, "/tmp/anchor.json").periodic
        assert not Checkpoints(engine, None, clock, "/tmp/anchor.json").periodic
        assert not Checkpoints(engine, b"k" * 32, clock, "").periodic
    finally:
        engine.dispose()
