"""What anchors the audit chain outside the database: row MACs and signed checkpoints.

Anyone with write access to the database can recompute a plain hash chain, so the chain alone
proves nothing against its own administrator. Two things the database cannot forge close that:

* every row carries ``mac = HMAC-SHA256(key, hash)``; the key is in the environment or a key
  file, never in the database, so an edited row and every later hash can be recomputed but not
  their MACs;
* a checkpoint (head seq, hash, time, HMAC signature) written somewhere the database cannot
  reach proves how long the chain was and what it said: a deleted tail or a chain rewritten
  without MACs no longer matches it.

The key reaches ``audit.append`` as the engine's ``outbound_audit_key`` execution option (set
by the composition root), so no caller of ``append`` has to pass it along.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from outbound.domain.errors import ValidationError
from outbound.store.tables import audit_events, audit_head

#: execution option carrying the key (bytes) on the engine the composition root builds
KEY_OPTION = "outbound_audit_key"
_ROW = b"outbound.audit.row/1|"
_KIND = "outbound.audit.checkpoint"


def row_mac(key: bytes, row_hash: str) -> str:
    return hmac.digest(key, _ROW + row_hash.encode("ascii"), "sha256").hex()


def row_macs(conn: Connection, row_hashes: list[str]) -> list[str | None]:
    """The MAC of each row hash under the connection's audit key (None for each without one)."""
    key = connection_key(conn)
    if key is None:
        return [None] * len(row_hashes)
    return [row_mac(key, h) for h in row_hashes]


def connection_key(conn: Connection) -> bytes | None:
    key = conn.get_execution_options().get(KEY_OPTION)
    return key if isinstance(key, bytes) else None


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at ``at``, signed with the audit key."""

    seq: int
    hash: str
    at: datetime
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "version": 1,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "signature": self.signature,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def _signature(key: bytes, seq: int, row_hash: str, at: datetime) -> str:
    message = f"{_KIND}/1|{seq}|{row_hash}|{at.isoformat()}".encode()
    return hmac.digest(key, message, "sha256").hex()


def take_checkpoint(conn: Connection, key: bytes, now: datetime) -> Checkpoint:
    """Sign the current head, after checking that its row is the one this key wrote.

    The head row's MAC authenticates its hash, and that hash commits to every row before it,
    so one row checks what the checkpoint vouches for: a rewritten chain is never signed.
    """
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    seq, head_hash = int(head.seq), str(head.hash)
    if seq:
        row = conn.execute(
            select(audit_events.c.hash, audit_events.c.mac).where(audit_events.c.seq == seq)
        ).one_or_none()
        if row is None or row.hash != head_hash:
            raise ValidationError(
                f"audit head says seq {seq} but that row is missing or differs; "
                "run `outbound audit verify` before taking a checkpoint"
            )
        if row.mac is not None and not hmac.compare_digest(row.mac, row_mac(key, head_hash)):
            raise ValidationError(
                f"audit row seq {seq} does not carry this key's MAC (rewritten, or written with "
                "another key); run `outbound audit verify` before taking a checkpoint"
            )
    at = now.astimezone(UTC).replace(microsecond=0)
    return Checkpoint(seq, head_hash, at, _signature(key, seq, head_hash, at))


def parse_checkpoint(text: str, key: bytes, where: str) -> Checkpoint:
    """A checkpoint read back from ``where``; refused unless this key signed it."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") != _KIND:
            raise ValueError(f"not an {_KIND} object")
        seq, row_hash = data["seq"], data["hash"]
        if not isinstance(seq, int) or seq < 0 or not isinstance(row_hash, str):
            raise ValueError("seq must be a whole number and hash a string")
        at, signature = datetime.fromisoformat(data["at"]), str(data["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            f"checkpoint {where} is not a checkpoint ({exc}); "
            "give a file written by `outbound audit checkpoint`"
        ) from None
    if at.tzinfo is None or not hmac.compare_digest(signature, _signature(key, seq, row_hash, at)):
        raise ValidationError(
            f"checkpoint {where} is not signed by the configured audit key (forged, edited, or "
            "written with another key); check [audit] key_file / OUTBOUND_AUDIT_KEY"
        )
    return Checkpoint(seq, row_hash, at, signature)


def key_digest(key: bytes) -> str:
    """A short fingerprint naming which key is configured, never the key itself."""
    return hashlib.sha256(b"outbound.audit.key-id|" + key).hexdigest()[:12]
