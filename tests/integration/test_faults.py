"""An unwritable or unreachable database, met by the real CLI: one line naming the cause.

Read-only: the file is made 0444; as root (who writes through file modes) the URL also opens it
with SQLite's own read-only mode, so the database is read-only to this process either way.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli_run import run_outbound
from tests.conftest import CONFIG_DIR

CSV = "external_id,name,phone,timezone,locale,preference\nC1,Ann,+12125550123,America/New_York,en-US,sms\n"
SHIPPING = '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-05"}'


def run(home: Path, url: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_outbound(
        ["--config-dir", str(CONFIG_DIR), "--db", url, *args],
        cwd=home,
        env={**os.environ, "OUTBOUND_AUDIT_KEY": ""},
        timeout=timeout,
    )


def _read_only(home: Path) -> str:
    """A database with one customer and one due notification, then made read-only."""
    url = f"sqlite:///{home / 'o.db'}"
    (home / "c.csv").write_text(CSV)
    for args in (
        ("db", "upgrade"),
        ("customer", "import", "c.csv"),
        ("send", "shipping", "--customer", "C1", "--data", SHIPPING),
    ):
        assert run(home, url, *args).returncode == 0
    (home / "o.db").chmod(0o444)
    if os.geteuid() == 0:
        return f"sqlite:///file:{home / 'o.db'}?mode=ro&uri=true"
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_until_idle_on_a_read_only_database_backs_off_and_exits_non_zero(
    tmp_path: Path,
) -> None:
    url = _read_only(tmp_path)
    proc = run(tmp_path, url, "serve", "--role", "worker", "--threads", "2", "--until-idle")
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    waits = re.findall(r"dispatch paused: .* is read-only.*; retrying in ([0-9.]+)s", proc.stderr)
    # each wait twice the last, one line per interval for both workers (a worker that lags
    # the other by most of an interval on a busy machine may add its own line: at most 6)
    assert sorted(set(waits), key=float) == ["0.5", "1.0", "2.0"] and len(waits) <= 6
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: database sqlite:///") and "is read-only" in last
    assert "gave up after 4 attempts" in last


@pytest.mark.parametrize(
    "args",
    [
        ("send", "shipping", "--customer", "C1", "--data", SHIPPING.replace("A1", "A2")),
        ("consent", "revoke", "--customer", "C1", "--channel", "sms", "--purpose", "all"),
        ("customer", "import", "c.csv"),
    ],
    ids=["send", "consent", "import"],
)
def test_a_write_to_a_read_only_database_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = _read_only(tmp_path)
    proc = run(tmp_path, url, *args)
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: database sqlite:///") and "is read-only; make the file" in line


@pytest.mark.parametrize(
    "args", [("send", "shipping", "--customer", "C1", "--data", SHIPPING), ("db", "upgrade")]
)
def test_a_database_in_a_missing_directory_is_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = run(tmp_path, f"sqlite:///{tmp_path / 'gone' / 'o.db'}", *args)
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"directory {str(tmp_path / 'gone')!r} does not exist; create it" in line


@pytest.mark.parametrize(
    "args",
    [
        ("send", "shipping", "--customer", "C1", "--data", SHIPPING),
        ("customer", "list"),
        ("audit", "verify"),
        ("db", "status"),
    ],
)
def test_a_postgresql_url_with_nothing_listening_is_one_line_without_the_password(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    port = _free_port()
    proc = run(tmp_path, f"postgresql://outbound:hunter2@127.0.0.1:{port}/outbound", *args)
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"is unreachable: nothing answers at 127.0.0.1:{port}" in line
    assert "hunter2" not in line
