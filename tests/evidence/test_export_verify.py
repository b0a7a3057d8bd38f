"""``audit export`` bundles a reviewer checks alone with ``audit verify-export DIR``: a signed
manifest (HMAC under the audit key, Ed25519 with a key whose public half they hold), MACs and
per-row hashes; the CLI export is itself an audit event (the CLI in the test process,
tests/cli_run.py; a real SQLite file)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.cli_run import run_cli
from tests.conftest import CONFIG_DIR
from tests.integration.test_cli import GOOD

AUDIT_KEY = "export-audit-key-" + "0123456789abcdef" * 2


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        ["--config-dir", str(CONFIG_DIR), *args],
        cwd=home,
        env={
            **os.environ,
            "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}",
            "OUTBOUND_AUDIT_KEY": AUDIT_KEY,
            **env,
        },
    )


def _ok(home: Path, *args: str, **env: str) -> str:
    done = _run(home, *args, **env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _bundle(home: Path, **env: str) -> Path:
    _ok(home, "db", "upgrade")
    (home / "c.csv").write_text(GOOD)
    _ok(home, "customer", "import", "c.csv")
    _ok(home, "consent", "grant", "--customer", "C1", "--channel", "sms", "--purpose",
        "marketing", "--evidence", "web form v3")  # fmt: skip
    out = home / "bundle"
    out.mkdir()
    _ok(home, "audit", "export", "--customer", "C1", "--out", str(out / "c1.jsonl"), **env)
    _ok(home, "audit", "export", "--customer", "C1", "--format", "csv",
        "--out", str(out / "c1.csv"), **env)  # fmt: skip
    return out


def test_a_bundle_verifies_with_the_audit_key_and_carries_macs_and_row_hashes(
    tmp_path: Path,
) -> None:
    out = _bundle(tmp_path)
    rows = [json.loads(x) for x in (out / "c1.jsonl").read_text().splitlines()]
    by_kind = {r["record"] for r in rows}
    assert by_kind == {"consent", "audit"}
    assert all(len(r["hash"]) == 64 for r in rows)  # consent rows too
    assert all(len(r["mac"]) == 64 for r in rows if r["record"] == "audit")
    manifest = json.loads((out / "c1.jsonl.manifest.json").read_text())
    assert len(manifest["signature"]["hmac_sha256"]) == 64
    verified = json.loads(_ok(tmp_path, "audit", "verify-export", str(out), "--json"))
    assert verified["ok"] is True
    # the CSV export came after the JSONL one, whose audit event it holds too
    assert [(f["file"], f["rows"]) for f in verified["files"]] == [
        ("c1.csv", len(rows) + 1),
        ("c1.jsonl", len(rows)),
    ]


def test_an_edited_row_or_manifest_fails_verify_export(tmp_path: Path) -> None:
    out = _bundle(tmp_path)
    jsonl = out / "c1.jsonl"
    jsonl.write_text(jsonl.read_text().replace("web form v3", "web form v9"))
    edited = _run(tmp_path, "audit", "verify-export", str(out))
    assert edited.returncode == 1 and "Traceback" not in edited.stderr
    assert "c1.jsonl: NOT VERIFIED" in edited.stdout and "c1.csv: verified" in edited.stdout
    assert "consent row 1: content does not match its hash (edited)" in edited.stdout
    assert "sha256 differs from the manifest's" in edited.stdout
    manifest = out / "c1.csv.manifest.json"
    meta = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**meta, "rows": meta["rows"] + 1}))
    forged = _run(tmp_path, "audit", "verify-export", str(out))
    assert "manifest HMAC missing or not made with this audit key" in forged.stdout
    other_key = _run(tmp_path, "audit", "verify-export", str(out), OUTBOUND_AUDIT_KEY="x" * 40)
    assert other_key.returncode == 1 and "MAC missing or not made with this audit key" in (
        other_key.stdout
    )


def test_a_reviewer_with_only_the_public_key_verifies_an_ed25519_signed_bundle(
    tmp_path: Path,
) -> None:
    private = Ed25519PrivateKey.generate()
    (tmp_path / "signing.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "signing.pub").write_bytes(public)
    out = _bundle(tmp_path, OUTBOUND_AUDIT_SIGNING_KEY_FILE=str(tmp_path / "signing.pem"))
    reviewer = {"OUTBOUND_AUDIT_KEY": ""}  # no secret of ours
    checked = _run(
        tmp_path, "audit", "verify-export", str(out), "--public-key", "signing.pub", **reviewer
    )
    assert checked.returncode == 0, checked.stdout
    assert "c1.jsonl: verified" in checked.stdout and "Ed25519 public key" in checked.stdout
    stranger = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    (tmp_path / "other.pub").write_text(stranger.hex())
    wrong = _run(
        tmp_path, "audit", "verify-export", str(out), "--public-key", "other.pub", **reviewer
    )
    assert wrong.returncode == 1
    assert "Ed25519 signature does not verify with --public-key" in wrong.stdout
    nothing = _run(tmp_path, "audit", "verify-export", str(out), **reviewer)
    assert nothing.returncode == 1 and "nothing to check the manifest's signature" in nothing.stdout


def test_the_cli_export_is_an_audit_event(tmp_path: Path) -> None:
    _bundle(tmp_path)
    listed = json.loads(_ok(tmp_path, "audit", "list", "--json"))
    exports = sorted((e for e in listed if e["action"] == "audit.export"), key=lambda e: e["seq"])
    assert [(e["actor"], e["subject"], e["data"]["format"]) for e in exports] == [
        ("cli", "customer:C1", "jsonl"),
        ("cli", "customer:C1", "csv"),
    ]
    assert "verified" in _ok(tmp_path, "audit", "verify")
