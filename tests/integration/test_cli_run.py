"""The in-process runner of tests/cli_run.py: one run's settings, database, environment and
logging never reach the next run or the test process."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.cli_run import OUTBOUND, run_cli
from tests.conftest import CONFIG_DIR


def _home(tmp_path: Path, name: str, log_format: str) -> Path:
    """A directory with its own config (database file and log format) and nothing else."""
    home = tmp_path / name
    shutil.copytree(CONFIG_DIR, home / "config")
    toml = home / "config" / "outbound.toml"
    text = toml.read_text().replace('format = "human"', f'format = "{log_format}"')
    toml.write_text(text.replace("sqlite:///outbound.db", f"sqlite:///{home / name}.db"))
    return home


def _outbound(home: Path, *args: str) -> tuple[int, str, str]:
    """Run in this process's own environment: what one run left there, the next would see."""
    proc = run_cli(["--config-dir", "config", *args], cwd=home)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(autouse=True)
def _no_outbound_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("OUTBOUND_")]:
        monkeypatch.delenv(name)


def test_two_runs_with_their_own_config_see_only_their_own_database_and_log_format(
    tmp_path: Path,
) -> None:
    a, b = _home(tmp_path, "a", "json"), _home(tmp_path, "b", "human")
    code, _, err_a = _outbound(a, "-vv", "db", "upgrade")  # alembic logs each migration
    assert code == 0
    code, _, err_b = _outbound(b, "-vv", "db", "upgrade")
    assert code == 0
    json_lines, human_lines = err_a.splitlines(), err_b.splitlines()
    assert json_lines and all(json.loads(line)["level"] for line in json_lines), err_a
    assert human_lines and not any(line.startswith("{") for line in human_lines), err_b
    assert "Running upgrade" in err_b
    csv = "external_id,name,phone,timezone,locale,preference\n{ref},Ann,+12125550123,,en-US,sms\n"
    (a / "c.csv").write_text(csv.format(ref="A1"))
    assert _outbound(a, "customer", "import", "c.csv")[0] == 0
    code, out_b, _ = _outbound(b, "customer", "list", "--json")
    assert code == 0 and json.loads(out_b) == []
    code, out_a, _ = _outbound(a, "customer", "list", "--json")
    assert code == 0 and [c["external_id"] for c in json.loads(out_a)] == ["A1"]
    code, out_b, _ = _outbound(b, "db", "status", "--json")
    assert code == 0 and json.loads(out_b)["database"].endswith("b.db")


def _process_state() -> tuple[object, ...]:
    """What a run must leave as it found it: logging, environment, cwd, streams, argv."""
    noisy = logging.getLogger("httpx")
    return (
        logging.root.level,
        logging.root.handlers[:],
        noisy.level,
        dict(os.environ),
        os.getcwd(),
        sys.stdout,
        sys.stderr,
        sys.argv,
    )


def test_a_run_leaves_logging_environment_cwd_and_streams_as_they_were(tmp_path: Path) -> None:
    home = _home(tmp_path, "c", "json")
    before = _process_state()
    code, _, err = _outbound(home, "-vv", "--log-format", "json", "db", "upgrade")
    assert code == 0 and err.startswith("{"), err  # it did configure logging, as JSON, at debug
    assert _process_state() == before
    logging.getLogger("outbound.test").warning("after the run")  # no CLI handler writes it


def test_exit_codes_and_errors_are_the_console_scripts(tmp_path: Path) -> None:
    proc = run_cli(["why", "abc"], cwd=tmp_path)
    assert proc.args == [OUTBOUND, "why", "abc"]
    assert proc.returncode == 2 and "Usage: outbound why" in proc.stderr, proc.stderr
    assert "'abc' is not a notification id" in proc.stderr
    proc = run_cli(["--help"], cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: outbound ")
    proc = run_cli(["--db", f"sqlite:///{tmp_path / 'none' / 'x.db'}", "why", "1"], cwd=tmp_path)
    assert proc.returncode == 5 and proc.stderr.startswith("error: "), proc.stderr


def test_commands_that_run_until_stopped_are_refused_in_process() -> None:
    for args in (["serve"], ["--db", "sqlite:///x.db", "-vv", "serve", "--role", "api"], ["demo"]):
        with pytest.raises(ValueError, match="runs until stopped: use run_process"):
            run_cli(args)
