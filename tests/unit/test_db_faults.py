"""Which database errors are faults of the database (one line for the operator) and which are
bugs (a traceback for the developer), and what the one line says."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from outbound.services.send.dispatch import FaultLog
from outbound.store.db import describe_fault, is_fault


def _sqlite(message: str) -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("message", "fault"),
    [
        ("attempt to write a readonly database", True),
        ("unable to open database file", True),
        ("database or disk is full", True),
        ("database is locked", True),
        ('near "SELEC": syntax error', False),
        ("no such column: foo", False),
    ],
)
def test_sqlite_errors_are_faults_only_when_the_file_is_unusable(message: str, fault: bool) -> None:
    assert is_fault(_sqlite(message)) is fault


def test_an_integrity_error_is_never_a_fault() -> None:
    assert not is_fault(IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("UNIQUE")))


def test_a_read_only_file_names_the_database_and_the_fix() -> None:
    line = describe_fault(_sqlite("attempt to write a readonly database"), "sqlite:///o.db")
    assert line.startswith("database sqlite:///o.db is read-only; make the file")


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nope' / 'o.db'}"
    line = describe_fault(_sqlite("unable to open database file"), url)
    assert f"directory {str(tmp_path / 'nope')!r} does not exist" in line


def test_a_refused_postgresql_connection_hides_the_password() -> None:
    class Refused(Exception):
        pass

    exc = OperationalError(
        "connect", {}, Refused('connection to server at "db" failed: Connection refused')
    )
    line = describe_fault(exc, "postgresql://app:s3cret@db.internal:6543/outbound")
    assert "is unreachable: nothing answers at db.internal:6543" in line and "s3cret" not in line


def test_workers_meeting_one_fault_log_one_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    faults = FaultLog(clock=lambda: now[0])
    cause = "database sqlite:///o.db is read-only"
    with caplog.at_level(logging.ERROR, logger="outbound.services.send.dispatch"):
        faults.report(cause, 0.5)  # worker 1
        faults.report(cause, 0.5)  # worker 2, same moment: already said
        now[0] += 0.5
        faults.report(cause, 1.0)
        faults.report(cause, 1.0)
        faults.report("database sqlite:///o.db is on a full disk", 1.0)  # a new cause: said
    assert [r.getMessage().rsplit("; ", 1)[1] for r in caplog.records] == [
        "retrying in 0.5s",
        "retrying in 1.0s",
        "retrying in 1.0s",
    ]
    assert "full disk" in caplog.records[-1].getMessage()
