"""The installed ``outbound`` console script, run as an operator runs it: one real process per
command family (the other CLI tests run the same ``main()`` in the test process,
tests/cli_run.py; ``serve``, ``demo`` and ``status`` have real-process tests of their own)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli_run import run_process

CSV = "external_id,name,phone,timezone,locale,preference\nC1,Ann,+12125550123,America/New_York,en-US,sms\n"
SHIPPING = '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-05"}'


def test_every_command_family_runs_from_the_installed_script_in_a_fresh_directory(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env["OUTBOUND_DATABASE_URL"] = f"sqlite:///{tmp_path / 'o.db'}"

    def outbound(*args: str, code: int = 0) -> str:
        proc = run_process(args, cwd=tmp_path, env=env)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc.stdout + proc.stderr

    assert "audit key written to" in outbound("init")
    assert json.loads(outbound("db", "status", "--json"))["ok"] is True
    (tmp_path / "c.csv").write_text(CSV)
    assert "1 created" in outbound("customer", "import", "c.csv")
    grant = ["consent", "grant", "--customer", "C1", "--channel", "sms", "--purpose", "marketing"]
    outbound(*grant, "--evidence", "web form v3")
    assert "notification 1 created" in outbound(
        "send", "shipping", "--customer", "C1", "--data", SHIPPING
    )
    assert "shipping" in outbound("why", "1")
    assert "not found" in outbound("why", "99", code=3)
    assert "verified" in outbound("audit", "verify")
    assert json.loads(outbound("campaign", "list", "--json")) == []
    assert "shop-eu" in outbound("source", "add", "shop-eu")
    assert json.loads(outbound("endpoint", "list", "--json")) == []
    assert json.loads(outbound("user", "list", "--json")) == []
    outbound("templates", "lint")
    outbound("flow", "lint")
    outbound("providers", "lint")
    assert json.loads(outbound("api", "openapi"))["openapi"].startswith("3.")
