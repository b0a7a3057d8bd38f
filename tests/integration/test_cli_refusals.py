"""Hardening, third pass (issue 21, items 11-14): numbers no row can have, files that cannot be
written, options a role ignores and a demo that would overwrite someone's database are one
usage line from ``outbound`` (run in the test process, tests/cli_run.py), never a traceback and never silent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from outbound.config import load_settings
from tests.integration.test_cli import CONFIG_DIR, run

HUGE = "99999999999999999999"  # beyond a 64-bit row id


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    return tmp_path


def _refused(home: Path, *args: str, code: int = 2) -> str:
    """stderr of a refused command (exit 2 for a usage error, 1 for a missing row)."""
    proc = run(home, *args, ok=False)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "OverflowError" not in proc.stderr, proc.stderr
    return proc.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("customer", "show", f"#{HUGE}"), f"customer '#{HUGE}' not found"),
        (
            ("send", "shipping", "--customer", f"#{HUGE}", "--data", "{}"),
            f"customer: '#{HUGE}' is not a known customer",
        ),
        (
            ("consent", "grant", "--customer", f"#{HUGE}", "--channel", "sms"),
            f"customer '#{HUGE}' not found",
        ),
        (("campaign", "preview", HUGE + "999"), f"campaign '{HUGE}999' not found"),
    ],
    ids=["customer-show", "send", "consent", "campaign-preview"],
)
def test_an_id_beyond_64_bits_is_not_found_not_an_overflow(
    home: Path, args: tuple[str, ...], says: str
) -> None:
    if args[0] == "consent":
        args = (*args, "--purpose", "marketing", "--evidence", "web form v3")
    proc = run(home, *args, ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "OverflowError" not in proc.stderr and says in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("hours", "shown"), [("99999999999", "1e+11"), ("-5", "-5"), ("nan", "nan")]
)
def test_source_rotate_refuses_keep_old_hours_outside_zero_to_a_year(
    home: Path, hours: str, shown: str
) -> None:
    run(home, "source", "add", "shop")
    err = _refused(home, "source", "rotate", "shop", "--keep-old-hours", hours)
    assert (
        f"Invalid value for '--keep-old-hours': {shown} hours is outside 0 (revoke the old "
        "secrets now) to 8784 (a year); give for example 24"
    ) in err
    listed = json.loads(run(home, "source", "list", "--json").stdout)
    assert [s["live_secrets"] for s in listed] == [1]  # nothing rotated


def test_a_chart_or_export_into_a_missing_folder_is_a_usage_error_before_any_work(
    home: Path,
) -> None:
    err = _refused(home, "campaign", "report", "nope", "--chart", "/nonexistent/dir/x.svg")
    assert (
        "Invalid value for '--chart': the folder '/nonexistent/dir' of "
        "'/nonexistent/dir/x.svg' does not exist; create it or write to an existing folder"
    ) in err
    err = _refused(home, "audit", "export", "--out", "/nonexistent/x.csv")
    assert "Invalid value for '--out': the folder '/nonexistent' of '/nonexistent/x.csv'" in err


def test_why_minus_one_says_it_is_not_a_notification_id(home: Path) -> None:
    err = _refused(home, "why", "-1")
    assert "No such option" not in err
    assert "Invalid value for 'NOTIFICATION_ID': '-1' is not a notification id" in err


def test_an_all_digit_campaign_name_is_refused_and_hints_are_shell_quoted(home: Path) -> None:
    create = (
        *("--kind", "renewal", "--schedule", "30 9 * * *", "--timezone", "UTC"),
        *("--segment", '{"expires_within_days": 7}'),
        *("--params", '{"renew_url": "https://shop.example/renew?c={external_id}"}'),
    )
    err = _refused(home, "campaign", "create", "2027", *create, code=2)
    assert "name: '2027' is all digits, which commands read as a campaign id" in err
    proc = run(home, "campaign", "create", "gold renewals", *create)
    assert "preview it: outbound campaign preview 'gold renewals'" in proc.stdout
    run(home, "campaign", "preview", "gold renewals", "--json")  # the quoted hint works


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--role", "worker", "--port", "8090"), "--port is not used by --role worker"),
        (("--role", "worker", "--host", "0.0.0.0"), "--host is not used by --role worker"),
        (("--role", "scheduler", "--threads", "4"), "--threads is not used by --role scheduler"),
        (("--role", "api", "--threads", "4"), "--threads is not used by --role api"),
    ],
)
def test_serve_refuses_an_option_its_role_does_not_use(
    home: Path, args: tuple[str, ...], says: str
) -> None:
    assert says in _refused(home, "serve", *args, "--until-idle")


def test_demo_refuses_to_overwrite_a_database_it_did_not_make(tmp_path: Path) -> None:
    victim = tmp_path / "victim.db"
    with sqlite3.connect(victim) as conn:
        conn.execute("CREATE TABLE precious (v TEXT)")
        conn.execute("INSERT INTO precious VALUES ('keep me')")
    conn.close()
    err = _refused(tmp_path, "demo", "--file", "victim.db", "--log-channel")
    assert "'victim.db' exists and is not a database an earlier demo made" in err
    assert "add --force to replace it" in err
    # the global --db is honoured: it names the file the demo would write, refused the same way
    err = _refused(tmp_path, "--db", f"sqlite:///{victim}", "demo", "--log-channel")
    assert f"'{victim}' exists and is not a database an earlier demo made" in err
    with sqlite3.connect(victim) as conn:
        assert conn.execute("SELECT v FROM precious").fetchall() == [("keep me",)]
    conn.close()


def test_demo_refuses_a_db_it_cannot_use(tmp_path: Path) -> None:
    err = _refused(tmp_path, "--db", "sqlite:///other.db", "demo", "--file", "mine.db")
    assert "--db names 'other.db' but --file names 'mine.db'; give one of them" in err
    err = _refused(tmp_path, "--db", "postgresql://u@127.0.0.1:1/x", "demo")
    assert "the demo makes a fresh SQLite file and cannot use --db postgresql" in err
    assert not (tmp_path / "other.db").exists() and not (tmp_path / "mine.db").exists()


@pytest.mark.parametrize(
    ("value", "roles"),
    [("compliance", ["compliance"]), ("compliance, operator", ["compliance", "operator"])],
)
def test_a_list_setting_from_the_environment_may_be_a_comma_list(
    home: Path, value: str, roles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOUND_CONSOLE_ERASE_ROLES", value)
    assert json.loads(run(home, "user", "list", "--json").stdout) == []  # no settings error
    environ = {"OUTBOUND_CONSOLE_ERASE_ROLES": value}
    assert load_settings(str(CONFIG_DIR), environ=environ).console.erase_roles == roles


def test_a_bad_role_in_a_list_setting_names_the_variable_and_the_roles(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOUND_CONSOLE_ERASE_ROLES", "compliance,admin")
    err = _refused(home, "user", "list", code=4)  # a configuration error
    assert (
        "environment [console] erase_roles (OUTBOUND_CONSOLE_ERASE_ROLES): item 'admin' input "
        "should be 'compliance' or 'operator'"
    ) in err
