"""The ``outbound`` command as an operator runs it, on real SQLite files: in the test process
(tests/cli_run.py), ``serve`` and ``demo`` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.cli_run import OUTBOUND, run_outbound
from tests.conftest import CONFIG_DIR
from tests.demo_run import DemoRun

EXPIRES = (date.today() + timedelta(days=10)).isoformat()  # the CLI runs on the real clock
GOOD = (
    "external_id,name,phone,timezone,locale,preference,membership_tier,membership_expires_on,wishlist\n"
    f"C1,Ann,+12125550123,America/New_York,en-US,sms>voice,gold,{EXPIRES},SKU-1\n"
    "C2,Bo,+4915112345678,,de-DE,push>sms,,,\n"
)


def run(tmp: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTBOUND_DATABASE_URL": f"sqlite:///{tmp / 'o.db'}"}
    proc = run_outbound(["--config-dir", str(CONFIG_DIR), *args], cwd=tmp, env=env)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    return tmp_path


def test_import_reports_every_bad_row_by_line_and_imports_nothing(home: Path) -> None:
    (home / "c.csv").write_text(
        GOOD
        + "C3,Cy,+1555,Mars/Base,en-US,sms,,,\n"  # line 4: bad phone and zone
        + "C4,Di,+8613800138000,Asia/Shanghai,zh_CN,fax,,2026-13-01,\n"  # line 5
    )
    proc = run(home, "customer", "import", "c.csv", ok=False)
    assert proc.returncode == 2
    assert "line 4: phone: '+****' is not a valid E.164 number" in proc.stderr  # masked, even here
    assert "timezone: 'Mars/Base' is not an IANA time zone" in proc.stderr
    assert "line 5: locale: 'zh_CN'" in proc.stderr
    assert "preference: 'fax' is not a channel" in proc.stderr
    assert "membership_expires_on: '2026-13-01' is not a date" in proc.stderr
    assert "nothing imported" in proc.stderr
    listed = json.loads(run(home, "customer", "list", "--json").stdout)
    assert listed == []


def test_import_with_skip_invalid_keeps_the_good_rows(home: Path) -> None:
    (home / "c.csv").write_text(GOOD + "C3,Cy,+1555,,en-US,sms,,,\n")
    proc = run(home, "customer", "import", "c.csv", "--skip-invalid", "--json")
    assert json.loads(proc.stdout) == {"created": 2, "updated": 0, "invalid": 1, "file": "c.csv"}
    shown = json.loads(run(home, "customer", "show", "C2", "--json").stdout)
    assert shown["timezone"] is None and shown["country"] == "DE"
    assert shown["phone"] == "+49*******5678"  # masked everywhere but the customer table
    assert [e["action"] for e in shown["events"]] == ["customer.created"]  # the audit trail


def test_send_rejects_unknown_kind_and_bad_json_and_writes_nothing(home: Path) -> None:
    (home / "c.csv").write_text(GOOD)
    run(home, "customer", "import", "c.csv")
    unknown = run(home, "send", "parcel", "--customer", "C1", "--data", "{}", ok=False)
    assert unknown.returncode == 2 and "kind: 'parcel' is not a notification kind" in unknown.stderr
    bad = run(home, "send", "shipping", "--customer", "C1", "--data", '{"order_id": 7', ok=False)
    assert bad.returncode == 2 and "--data is not JSON" in bad.stderr
    missing = run(
        home, "send", "shipping", "--customer", "C1", "--data", '{"order_id": "A1"}', ok=False
    )
    assert "data.carrier: None is required for shipping" in missing.stderr
    nobody = run(home, "send", "shipping", "--customer", "C9", "--data", "{}", ok=False)
    assert nobody.returncode == 2 and "customer: 'C9' is not a known customer" in nobody.stderr
    history = json.loads(run(home, "customer", "show", "C1", "--json").stdout)["history"]
    assert history == []


def test_send_twice_returns_the_same_notification_and_why_explains_it(home: Path) -> None:
    (home / "c.csv").write_text(GOOD)
    run(home, "customer", "import", "c.csv")
    data = '{"order_id":"A1","carrier":"DHL","tracking_no":"T1","eta":"2026-12-01"}'
    first = json.loads(
        run(home, "send", "shipping", "--customer", "C1", "--data", data, "--json").stdout
    )
    second = json.loads(
        run(home, "send", "shipping", "--customer", "C1", "--data", data, "--json").stdout
    )
    assert (first["created"], second["created"]) == (True, False)
    assert second["notification_id"] == first["notification_id"]
    why = run(home, "why", str(first["notification_id"])).stdout
    assert "shipping (transactional) for customer C1" in why
    assert "consent" in why and "quiet_hours" in why


def test_serve_refuses_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    proc = run(tmp_path, "serve", "--until-idle", ok=False)
    assert proc.returncode == 4
    assert "is not initialised; run: outbound --db" in proc.stderr and "db upgrade" in proc.stderr


def test_audit_verify_exit_code_reflects_the_chain(home: Path) -> None:
    (home / "c.csv").write_text(GOOD)
    run(home, "customer", "import", "c.csv")
    assert "2 events verified" in run(home, "audit", "verify").stdout
    import sqlite3

    with sqlite3.connect(home / "o.db") as conn:
        conn.execute("UPDATE audit_events SET data = '{}' WHERE seq = 1")
    broken = run(home, "audit", "verify", ok=False)
    assert broken.returncode == 1 and "BROKEN at seq 1" in broken.stdout


def test_campaign_preview_counts_without_writing_and_run_is_idempotent_per_fire(home: Path) -> None:
    (home / "c.csv").write_text(GOOD)
    run(home, "customer", "import", "c.csv")
    run(
        home,
        "campaign",
        "create",
        "r14",
        "--kind",
        "renewal",
        "--schedule",
        "0 10 * * *",
        "--timezone",
        "Europe/Berlin",
        "--segment",
        '{"expires_within_days": 30}',
        "--params",
        '{"renew_url": "https://shop.example/r?c={external_id}"}',
    )
    preview = json.loads(run(home, "campaign", "preview", "r14", "--json").stdout)
    assert preview["selected"] == 1  # only C1 has a membership
    assert (
        sum(preview["send_now"].values())
        + sum(preview["deferred"].values())
        + sum(preview["suppressed"].values())
        == 1
    )
    assert preview["sms_parts"] == {"1 part, gsm7": 1}  # C1 prefers SMS: its size is known
    assert 60 < preview["sms_longest_chars"] <= 160
    assert json.loads(run(home, "customer", "show", "C1", "--json").stdout)["history"] == []
    ran = json.loads(run(home, "campaign", "run", "r14", "--json").stdout)
    assert (ran["selected"], ran["created"]) == (1, 1)
    again = json.loads(run(home, "campaign", "run", "r14", "--json").stdout)
    assert (again["created"], again["duplicates"]) == (0, 1)


def test_bad_cron_and_timezone_are_named(home: Path) -> None:
    proc = run(
        home,
        "campaign",
        "create",
        "x",
        "--kind",
        "renewal",
        "--schedule",
        "61 * * * *",
        "--timezone",
        "Europe/Berlin",
        "--segment",
        '{"expires_within_days": 3}',
        ok=False,
    )
    assert proc.returncode == 2 and "schedule: '61 * * * *' is not a 5-field crontab" in proc.stderr
    proc = run(
        home,
        "campaign",
        "create",
        "x",
        "--kind",
        "renewal",
        "--schedule",
        "0 9 * * *",
        "--timezone",
        "Moon/Base",
        ok=False,
    )
    assert "timezone: 'Moon/Base' is not an IANA time zone" in proc.stderr


def test_every_command_has_help_with_an_example() -> None:
    from click import Context, Group

    from outbound.cli.root import cli

    def walk(group: Group, prefix: str) -> list[tuple[str, str]]:
        found = []
        ctx = Context(group)
        for name in group.list_commands(ctx):  # the root imports its commands when asked
            command = group.get_command(ctx, name)
            assert command is not None, name
            found.append((f"{prefix} {name}", command.help or ""))
            if isinstance(command, Group):
                found.extend(walk(command, f"{prefix} {name}"))
        return found

    commands = walk(cli, "outbound")
    assert len(commands) > 20
    missing = [name for name, text in commands if "Example:" not in text]
    assert missing == []


@pytest.mark.slow
def test_demo_runs_from_a_fresh_directory_and_explains_itself(demo_run: DemoRun) -> None:
    out = demo_run.stdout  # the session's one demo run (tests/demo_run.py), in a fresh directory
    for heading in ("Sent", "Deferred", "Suppressed", "Fallbacks", "Try:"):
        assert heading in out
    assert "chain verified" in out
    assert "status webhooks: the loopback receiver verified" in out and "(0 rejected)" in out
    assert demo_run.db.exists()
    why_line = next(line for line in out.splitlines() if " why " in line)
    args = why_line.split("outbound", 1)[1].split()
    why = subprocess.run(
        [OUTBOUND, *args],
        cwd=demo_run.directory,
        env=demo_run.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert why.returncode == 0 and "decision 1" in why.stdout
    assert "+1212" not in out  # no unmasked phone numbers in the demo output
