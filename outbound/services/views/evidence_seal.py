"""Evidence a reviewer can check without us: per-row hashes, exported MACs, a signed manifest.

* every audit row carries its chain ``hash`` (recomputable: ``sha256(prev_hash + canonical
  row)``) and its ``mac`` (``HMAC(audit key, hash)``);
* every other row (consent, suppression, decision, delivery, receipt, transcript) carries a
  ``hash`` of its own fields (``row_hash``);
* the manifest names the file's sha256 and is signed: HMAC-SHA256 under the audit key, and —
  with ``[audit] signing_key_file`` (an Ed25519 private key, PEM) — an Ed25519 signature whose
  public half a reviewer holds, so they need no secret of ours to check it.

``verify_bundle`` checks a directory of exports and manifests alone (``outbound audit
verify-export DIR``).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from outbound.domain.errors import ConfigError, ValidationError
from outbound.store import audit
from outbound.store.anchor import row_mac

_SEP = "\x1f"
ROW_RULE = (
    "audit rows: hash = sha256(prev_hash + canonical row), mac = HMAC-SHA256(audit key, "
    "'outbound.audit.row/1|' + hash); other rows: hash = sha256 of record, id, at (ISO), "
    "actor, action, subject and data joined by U+001F"
)
_UNSIGNED = ("signature", "file")  # "file" is named after signing (the console zip's name)
_KEY_ID = b"outbound.audit.key-id/1"


def row_hash(
    record: str, rid: Any, at: Any, actor: str, action: str, subject: str, data: str
) -> str:
    stamp = at.isoformat() if isinstance(at, datetime) else "" if at is None else str(at)
    text = _SEP.join([record, str(rid), stamp, actor, action, subject, data])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_id(key: bytes) -> str:
    """Which audit key signed, without revealing it."""
    return hmac.new(key, _KEY_ID, hashlib.sha256).hexdigest()[:16]


def _canonical(meta: dict[str, Any]) -> bytes:
    """The manifest as signed: everything but the signature (and the file name), as the JSON
    reader of the written manifest sees it."""
    plain = json.loads(json.dumps(meta, default=_iso))
    body = {k: v for k, v in plain.items() if k not in _UNSIGNED}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def load_signer(path: str) -> Ed25519PrivateKey | None:
    """``[audit] signing_key_file``: an Ed25519 private key (PEM, e.g. from ``openssl genpkey
    -algorithm ed25519``); None when not configured."""
    if not path:
        return None
    try:
        loaded = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"[audit] signing_key_file {path!r} cannot be read as an unencrypted PEM private key "
            f"({reason}); create one with `openssl genpkey -algorithm ed25519 -out {path}`"
        ) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"[audit] signing_key_file {path!r} is not an Ed25519 key")
    return loaded


def public_hex(signer: Ed25519PrivateKey) -> str:
    raw = signer.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return raw.hex()


def sign(meta: dict[str, Any], key: bytes | None, signer: Ed25519PrivateKey | None) -> None:
    """Add ``signature`` to the manifest (nothing to sign with: an explicit "unsigned")."""
    body = _canonical(meta)
    signature: dict[str, Any] = {"rule": ROW_RULE}
    if key is not None:
        signature["hmac_sha256"] = hmac.new(key, body, hashlib.sha256).hexdigest()
        signature["audit_key_id"] = key_id(key)
    if signer is not None:
        signature["ed25519"] = signer.sign(body).hex()
        signature["ed25519_public_key"] = public_hex(signer)
    if key is None and signer is None:
        signature["unsigned"] = "no audit key and no signing key configured"
    meta["signature"] = signature


def read_public_key(path: str) -> Ed25519PublicKey:
    """A reviewer's copy of the public key: PEM, or the 64 hex digits the manifest shows."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"--public-key {path!r} cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("ascii").strip()
        if len(text) == 64:
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
        loaded = serialization.load_pem_public_key(raw)
    except (ValueError, UnicodeDecodeError):
        loaded = None
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValidationError(
            f"--public-key {path!r} is not an Ed25519 public key (PEM, or 64 hex digits); "
            "get it with `openssl pkey -in signing.pem -pubout`"
        )
    return loaded


@dataclass
class BundleCheck:
    """What ``verify_bundle`` found for one export file of the directory."""

    file: str
    rows: int = 0
    signed_by: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "ok": self.ok, "rows": self.rows, "signed_by": self.signed_by,
                "problems": self.problems}  # fmt: skip


def _rows(text: str, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "csv":
        for row in csv.DictReader(io.StringIO(text, newline="")):
            yield {k: _unquote(v) for k, v in row.items()}
        return
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def _unquote(cell: str) -> str:
    """A CSV cell as it was before ``safe_cell`` guarded a formula-like start."""
    if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@", "\t", "\r", "|", "%"):
        return cell[1:]
    return cell


def _row_problem(row: dict[str, Any], key: bytes | None) -> str:
    rid, data = row.get("id"), str(row.get("data", ""))
    if row.get("record") == "audit":
        at = datetime.fromisoformat(str(row["at"]))
        body = audit.canonical(int(str(rid)), at, row["actor"], row["action"], row["subject"], data)
        if audit.chain_hash(str(row["prev_hash"]), body) != row["hash"]:
            return f"audit row seq {rid}: content does not match its hash (edited)"
        mac = row.get("mac") or None
        if key is not None and (
            mac is None or not hmac.compare_digest(str(mac), row_mac(key, row["hash"]))
        ):
            return f"audit row seq {rid}: MAC missing or not made with this audit key"
        return ""
    expected = row_hash(str(row["record"]), rid, row.get("at") or "", str(row.get("actor", "")),
                        str(row.get("action", "")), str(row.get("subject", "")), data)  # fmt: skip
    if row.get("hash") != expected:
        return f"{row.get('record')} row {rid}: content does not match its hash (edited)"
    return ""


def _signature_problems(
    meta: dict[str, Any], key: bytes | None, public: Ed25519PublicKey | None, check: BundleCheck
) -> None:
    signature = meta.get("signature") or {}
    body = _canonical(meta)
    if key is not None:
        given = str(signature.get("hmac_sha256", ""))
        if given and hmac.compare_digest(given, hmac.new(key, body, hashlib.sha256).hexdigest()):
            check.signed_by.append("audit key (HMAC-SHA256)")
        else:
            check.problems.append("manifest HMAC missing or not made with this audit key (edited?)")
    if public is not None:
        try:
            public.verify(bytes.fromhex(str(signature.get("ed25519", ""))), body)
            check.signed_by.append("Ed25519 public key")
        except (InvalidSignature, ValueError):
            check.problems.append("manifest Ed25519 signature does not verify with --public-key")
    if key is None and public is None:
        check.problems.append(
            "nothing to check the manifest's signature with: set the audit key "
            "(OUTBOUND_AUDIT_KEY) or give --public-key FILE"
        )


def verify_file(manifest: Path, key: bytes | None, public: Ed25519PublicKey | None) -> BundleCheck:
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    name = str(meta.get("file") or manifest.name.removesuffix(".manifest.json"))
    check = BundleCheck(name)
    _signature_problems(meta, key, public, check)
    try:
        raw = (manifest.parent / Path(name).name).read_bytes()
    except OSError as exc:
        check.problems.append(f"{name}: cannot be read ({exc.strerror})")
        return check
    if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
        check.problems.append(f"{name}: sha256 differs from the manifest's (file changed)")
    rows = list(_rows(raw.decode("utf-8"), str(meta.get("format", "jsonl"))))
    check.rows = len(rows)
    if len(rows) != meta.get("rows"):
        check.problems.append(f"{name}: {len(rows)} rows, the manifest says {meta.get('rows')}")
    for row in rows:
        problem = _row_problem(row, key)
        if problem:
            check.problems.append(problem)
    return check


def verify_bundle(
    directory: Path, key: bytes | None, public: Ed25519PublicKey | None
) -> list[BundleCheck]:
    """Every export with a manifest in ``directory``, checked from the files alone."""
    manifests = sorted(directory.glob("*.manifest.json"))
    if not manifests:
        raise ValidationError(
            f"{str(directory)!r} holds no *.manifest.json; give the directory an export and its "
            "manifest were written to (or the unzipped console download)"
        )
    return [verify_file(m, key, public) for m in manifests]
