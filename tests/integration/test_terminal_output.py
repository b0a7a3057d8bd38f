"""The real ``outbound`` command shows hostile names escaped and dates in ISO form."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_cli import run

NAME = "Eve\x1b[2J\x1b]0;owned\x07\u202e"
SHOWN = "Eve\\x1b[2J\\x1b]0;owned\\x07\\u202e"


def test_list_and_show_escape_control_characters_and_print_iso_dates(tmp_path: Path) -> None:
    run(tmp_path, "db", "upgrade")
    row = {
        "external_id": "C1",
        "name": NAME,
        "phone": "+12125550123",
        "membership_tier": "gold",
        "membership_expires_on": "2026-12-10",
        "preference": "sms>voice",
    }
    (tmp_path / "c.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    run(tmp_path, "customer", "import", "c.jsonl")
    listed = run(tmp_path, "customer", "list").stdout
    shown = run(tmp_path, "customer", "show", "C1").stdout
    for out in (listed, shown):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert SHOWN in out
    assert "membership: tier=gold, expires_on=2026-12-10" in shown
    assert "datetime" not in shown and "preference: sms; voice" in shown
    as_json = json.loads(run(tmp_path, "customer", "show", "C1", "--json").stdout)
    assert as_json["name"] == NAME  # programs get the data as it is
    assert as_json["membership"]["expires_on"] == "2026-12-10"
