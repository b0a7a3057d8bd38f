"""``outbound audit checkpoint`` / ``verify --checkpoint`` and the scheduled checkpoint of
``serve``, as an operator runs them (``serve`` and ``init``'s flow as real processes, the rest in the
test process, tests/cli_run.py) on a real SQLite file, the key in the
environment, the attacker editing the file with an engine of their own (no key)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from outbound.store.anchor import parse_checkpoint
from outbound.store.db import make_engine
from tests.cli_run import OUTBOUND, run_outbound, run_process
from tests.conftest import CONFIG_DIR
from tests.integration.helpers import rewrite_chain_from, truncate_chain

KEY = "0123456789abcdef" * 4
REVOKE = ("consent", "revoke", "--channel", "sms", "--purpose", "marketing", "--customer")
CSV = (
    "external_id,name,phone,timezone,locale,preference\n"
    "C1,Ann,+12125550123,America/New_York,en-US,sms\n"
    "C2,Bo,+4915112345678,Europe/Berlin,de-DE,sms\n"
    "C3,Cy,+8613800138000,Asia/Shanghai,zh-CN,sms\n"
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}",
        "OUTBOUND_AUDIT_KEY": KEY,
        **extra,
    }


def run(home: Path, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    proc = run_outbound(["--config-dir", str(CONFIG_DIR), *args], cwd=home, env=_env(home, **env))
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    (tmp_path / "c.csv").write_text(CSV)
    run(tmp_path, "customer", "import", "c.csv")
    run(tmp_path, *REVOKE, "C2")
    return tmp_path


def _attack(home: Path) -> Engine:
    """The attacker's own engine on the file: the same code, no key."""
    return make_engine(f"sqlite:///{home / 'o.db'}")


def test_verify_with_a_checkpoint_catches_a_recomputed_chain(home: Path) -> None:
    out = run(home, "audit", "checkpoint", "--to", "cp.json").stdout
    assert "checkpoint seq 4 at" in out and "written to cp.json" in out
    with _attack(home).begin() as conn:
        rewrite_chain_from(conn, 1, strip_macs=True)
    plain = run(home, "audit", "verify", ok=True, OUTBOUND_AUDIT_KEY="")
    assert "4 events verified" in plain.stdout  # the unkeyed check is fooled...
    assert "no audit key configured" in plain.stderr  # ...and says it can be
    broken = run(home, "audit", "verify", "--checkpoint", "cp.json", ok=False)
    assert broken.returncode == 1
    assert "BROKEN at seq 4: hash differs from the checkpoint" in broken.stdout


def test_verify_with_a_checkpoint_catches_a_deleted_tail(home: Path) -> None:
    run(home, "audit", "checkpoint", "--to", "cp.json")
    with _attack(home).begin() as conn:
        assert truncate_chain(conn, 2) == 2
    assert "2 events verified" in run(home, "audit", "verify").stdout
    broken = run(home, "audit", "verify", "--checkpoint", "cp.json", "--json", ok=False)
    data = json.loads(broken.stdout)
    assert (data["ok"], data["broken_at"], data["checked"]) == (False, 3, 2)
    assert "saw seq 4: 2 events deleted from the tail" in data["problem"]


def test_checkpoint_to_stdout_and_a_forged_checkpoint_file(home: Path) -> None:
    printed = json.loads(run(home, "audit", "checkpoint", "--to", "-").stdout)
    assert printed["seq"] == 4 and len(printed["signature"]) == 64
    (home / "forged.json").write_text(json.dumps({**printed, "seq": 2}))
    refused = run(home, "audit", "verify", "--checkpoint", "forged.json", ok=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "is not signed by the configured audit key" in refused.stderr


def test_checkpoint_without_a_key_names_the_fix(home: Path) -> None:
    proc = run(home, "audit", "checkpoint", "--to", "cp.json", ok=False, OUTBOUND_AUDIT_KEY="")
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert "no audit key configured" in proc.stderr and "outbound init" in proc.stderr
    assert not (home / "cp.json").exists()


def _wait_for(path: Path, deadline: float) -> dict[str, object]:
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())  # replaced atomically: never half a file
        time.sleep(0.1)
    raise AssertionError(f"{path} not written in time")


def test_serve_writes_a_signed_checkpoint_on_its_schedule_and_at_shutdown(home: Path) -> None:
    target = home / "anchor" / "cp.json"
    target.parent.mkdir()
    env = _env(
        home, OUTBOUND_AUDIT_CHECKPOINT_TO=str(target), OUTBOUND_AUDIT_CHECKPOINT_SECONDS="1"
    )
    proc = subprocess.Popen(
        [OUTBOUND, "--config-dir", str(CONFIG_DIR), "serve", "--role", "scheduler"],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _wait_for(target, time.monotonic() + 90)
        checkpoint = parse_checkpoint(json.dumps(first), KEY.encode(), str(target))
        assert checkpoint.seq == 4
        run(home, *REVOKE, "C3")
        deadline = time.monotonic() + 90
        while _wait_for(target, deadline)["seq"] != 5:
            time.sleep(0.1)  # the next scheduled one sees the new event
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    # audit verify holds the chain against the scheduled checkpoint by itself
    verified = run(home, "audit", "verify", OUTBOUND_AUDIT_CHECKPOINT_TO=str(target))
    assert "matches the checkpoint of" in verified.stdout and "(seq 5)" in verified.stdout


def test_init_creates_a_private_key_file_that_later_commands_use_and_keeps_it(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env["OUTBOUND_DATABASE_URL"] = f"sqlite:///{tmp_path / 'o.db'}"

    def outbound(*args: str) -> subprocess.CompletedProcess[str]:
        proc = run_process(args, cwd=tmp_path, env=env)  # the audit family's console-script run
        assert proc.returncode == 0, proc.stderr
        return proc

    assert "audit key written to" in outbound("init").stdout
    key_file = tmp_path / "config" / "audit.key"
    key = key_file.read_text()
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key.strip()) == 64
    (tmp_path / "c.csv").write_text(CSV)
    outbound("customer", "import", "c.csv")
    assert "3 MACs checked" in outbound("audit", "verify").stdout
    printed = json.loads(outbound("audit", "checkpoint", "--to", "-").stdout)
    assert parse_checkpoint(json.dumps(printed), key.strip().encode(), "stdout").seq == 3
    assert "audit key written" not in outbound("init", "--force").stdout
    assert key_file.read_text() == key  # never replaced: old MACs would stop verifying


def test_verify_without_a_checkpoint_warns_that_a_deleted_tail_cannot_be_seen(home: Path) -> None:
    with _attack(home).begin() as conn:
        truncate_chain(conn, 2)
    plain = run(home, "audit", "verify")
    assert "2 events verified" in plain.stdout  # intact as far as the database can tell...
    assert "warning: no checkpoint held" in plain.stderr  # ...and it says what that misses
    assert "deleted from the tail cannot be detected" in plain.stderr


def test_verify_names_a_configured_checkpoint_file_that_is_gone(home: Path) -> None:
    run(home, "audit", "checkpoint", "--to", "cp.json")
    (home / "cp.json").unlink()  # deleted along with the tail
    with _attack(home).begin() as conn:
        truncate_chain(conn, 2)
    proc = run(home, "audit", "verify", "--json", OUTBOUND_AUDIT_CHECKPOINT_TO="cp.json")
    (warning,) = json.loads(proc.stdout)["warnings"]
    assert warning.startswith("[audit] checkpoint_to cp.json does not exist")


def test_a_chain_whose_every_mac_was_stripped_fails_verify_without_a_checkpoint(
    home: Path,
) -> None:
    with _attack(home).begin() as conn:
        rewrite_chain_from(conn, 1, strip_macs=True)
    stripped = run(home, "audit", "verify", ok=False)
    assert stripped.returncode == 1 and "Traceback" not in stripped.stderr
    assert "NOT VERIFIED: none of the 4 events carries a MAC" in stripped.stdout
    assert "--allow-unsigned-before 5" in stripped.stdout and "--predates-key" in stripped.stdout
    data = json.loads(run(home, "audit", "verify", "--json", ok=False).stdout)
    assert (data["ok"], data["broken_at"], data["signed"], data["unsigned"]) == (False, 1, 0, 4)
    said = run(home, "audit", "verify", "--predates-key")  # the operator vouches for it
    assert "4 events verified" in said.stdout and "carry no MAC" in said.stderr


def test_a_database_older_than_the_key_verifies_only_when_told_where_signing_began(
    tmp_path: Path,
) -> None:
    no_key = {"OUTBOUND_AUDIT_KEY": ""}
    run(tmp_path, "db", "upgrade", **no_key)
    (tmp_path / "c.csv").write_text(CSV)
    run(tmp_path, "customer", "import", "c.csv", **no_key)  # seq 1-3, unsigned
    run(tmp_path, *REVOKE, "C2")  # seq 4, the first with the key
    refused = run(tmp_path, "audit", "verify", ok=False)
    assert refused.returncode == 1
    assert "the first 3 events carry no MAC" in refused.stdout
    assert "--allow-unsigned-before 4" in refused.stdout
    assert (
        run(tmp_path, "audit", "verify", "--allow-unsigned-before", "3", ok=False).returncode == 1
    )
    allowed = run(tmp_path, "audit", "verify", "--allow-unsigned-before", "4")
    assert "4 events verified (1 MACs checked)" in allowed.stdout
    both = run(
        tmp_path, "audit", "verify", "--allow-unsigned-before", "4", "--predates-key", ok=False
    )
    assert both.returncode == 2 and "not both" in both.stderr
