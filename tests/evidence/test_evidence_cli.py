"""``customer forget`` and ``audit export`` as an operator runs them (in the test
process, tests/cli_run.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

from outbound.voice.tts import Tts
from tests.cli_run import run_cli
from tests.conftest import CONFIG_DIR
from tests.evidence.conftest import KEY
from tests.integration.test_cli import GOOD


def _run(home: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}",
        "OUTBOUND_VOICE_TTS_CACHE_DIR": str(home / "tts"),
    }
    env.pop("OUTBOUND_PRIVACY_ERASURE_KEY", None)
    if key is not None:
        env["OUTBOUND_PRIVACY_ERASURE_KEY"] = key
    return run_cli(["--config-dir", str(CONFIG_DIR), *args], cwd=home, env=env)


def _ok(home: Path, *args: str) -> str:
    proc = _run(home, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_forget_then_export_shows_only_the_erasure_record_and_the_chain_verifies(
    tmp_path: Path,
) -> None:
    _ok(tmp_path, "db", "upgrade")
    (tmp_path / "c.csv").write_text(GOOD)
    _ok(tmp_path, "customer", "import", "c.csv")
    _ok(
        tmp_path,
        "consent",
        "grant",
        "--customer",
        "C1",
        "--channel",
        "sms",
        "--purpose",
        "marketing",
        "--evidence",
        "@SUM(1+1)",
    )
    before = _ok(tmp_path, "audit", "export", "--customer", "C1", "--format", "csv")
    assert "wrote" in before and "verified" in before
    with (tmp_path / "evidence-C1.csv").open(newline="") as handle:
        cells = [c for row in csv.reader(handle) for c in row]
    assert "@SUM" not in "".join(c[:1] for c in cells) and any("@SUM(1+1)" in c for c in cells)

    forgot = json.loads(
        _ok(tmp_path, "customer", "forget", "C1", "--reason", "ticket 12", "--json")
    )
    assert forgot["pseudonym"].startswith("erased:") and forgot["erased"]["wishlist_items"] == 1
    meta = json.loads(
        _ok(tmp_path, "audit", "export", "--customer", "C1", "--out", "c1.jsonl", "--json")
    )
    lines = (tmp_path / "c1.jsonl").read_text().splitlines()
    assert meta["rows"] == len(lines) == 1
    assert json.loads(lines[0])["action"] == "customer.erased"
    assert "intact" in _ok(tmp_path, "audit", "verify")
    shown = json.loads(_ok(tmp_path, "customer", "show", forgot["pseudonym"], "--json"))
    assert shown["name"] == "" and shown["phone"] == "" and shown["wishlist"] == []


def test_forget_without_a_key_or_reason_says_what_to_set_and_changes_nothing(
    tmp_path: Path,
) -> None:
    _ok(tmp_path, "db", "upgrade")
    (tmp_path / "c.csv").write_text(GOOD)
    _ok(tmp_path, "customer", "import", "c.csv")
    keyless = _run(tmp_path, "customer", "forget", "C1", "--reason", "x", "--yes", key=None)
    assert keyless.returncode != 0 and "OUTBOUND_PRIVACY_ERASURE_KEY" in keyless.stderr
    assert "Traceback" not in keyless.stderr
    blank = _run(tmp_path, "customer", "forget", "C1", "--reason", " ", "--yes")
    assert blank.returncode != 0 and "--reason is required" in blank.stderr
    listed = json.loads(_ok(tmp_path, "customer", "list", "--json"))
    assert [c["name"] for c in listed] == ["Ann", "Bo"]
    assert "forget" in _ok(tmp_path, "customer", "forget", "--help")


def test_a_different_erasure_key_is_refused_and_the_erased_number_stays_suppressed(
    tmp_path: Path,
) -> None:
    _ok(tmp_path, "db", "upgrade")
    (tmp_path / "c.csv").write_text(GOOD)
    _ok(tmp_path, "customer", "import", "c.csv")
    _ok(tmp_path, "customer", "forget", "C1", "--reason", "ticket 12", "--yes")
    other = "another-key-0123456789abcdef"
    header, first = GOOD.splitlines()[:2]  # the forgotten number under a new id
    (tmp_path / "again.csv").write_text(f"{header}\n{first.replace('C1,', 'C9,')}\n")
    wrong = _run(tmp_path, "customer", "import", "again.csv", key=other)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "erasure_key is not the key this database's erasures were made with" in wrong.stderr
    assert "OUTBOUND_PRIVACY_ERASURE_KEY back to the key the erasures used" in wrong.stderr
    forgetting = _run(tmp_path, "customer", "forget", "C2", "--reason", "t", "--yes", key=other)
    assert forgetting.returncode != 0 and "erasures were made with" in forgetting.stderr
    listed = json.loads(_ok(tmp_path, "customer", "list", "--json"))
    assert sorted(c["external_id"] for c in listed if c["name"]) == ["C2"]  # nothing written
    _ok(tmp_path, "customer", "import", "again.csv")  # the right key: accepted, suppressed
    shown = json.loads(_ok(tmp_path, "customer", "show", "C9", "--json"))
    assert [s["reason"] for s in shown["suppressions"]] == ["number of an erased customer"]


def test_forget_deletes_the_prompts_spoken_to_that_customer_and_keeps_the_shared_ones(
    tmp_path: Path,
) -> None:
    _ok(tmp_path, "db", "upgrade")
    (tmp_path / "c.csv").write_text(GOOD)
    _ok(tmp_path, "customer", "import", "c.csv")
    (c1,) = [
        c["id"]
        for c in json.loads(_ok(tmp_path, "customer", "list", "--json"))
        if c["external_id"] == "C1"
    ]
    tts = Tts(tmp_path / "tts", 8000, engine="espeak")
    payload = {"order_id": "ORDER-4711", "n": 1}
    call = tts.for_customer(c1, payload.values())  # as the dialer's call does
    personal = call.wav_for("Your order ORDER-4711 has shipped.", "en-US")
    shared = call.wav_for("Press 1 to confirm.", "en-US")
    assert personal.parent == tmp_path / "tts" / "customers" / str(c1)
    assert shared.parent == tmp_path / "tts"

    forgot = json.loads(_ok(tmp_path, "customer", "forget", "C1", "--reason", "t 1", "--json"))

    assert forgot["erased"]["tts_prompts"] == 1
    assert not personal.exists() and shared.exists()
