"""Personal data kept beside the audit chain, never in it, and the per-database privacy state.

* ``inbound_texts``: what a customer wrote (the chain keeps a keyed hash, the length and the
  keyword); erasure deletes the rows.
* ``privacy_state``: a random per-database salt (keys the hashes of console searches and inbound
  texts when no audit key is configured) and the fingerprint of the erasure key in use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from outbound.store.anchor import connection_key
from outbound.store.tables import inbound_texts, privacy_state

SALT = "hash_salt"
ERASURE_FINGERPRINT = "erasure_key_fingerprint"


def state_value(conn: Connection, name: str) -> str | None:
    row = conn.execute(select(privacy_state.c.value).where(privacy_state.c.name == name)).first()
    return None if row is None else str(row.value)


def state_value_or_set(conn: Connection, name: str, value: str, now: datetime) -> str:
    """The stored value of ``name``; ``value`` is stored first when there is none (the first
    writer wins when two race: the other reads what it stored)."""
    found = state_value(conn, name)
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            conn.execute(insert(privacy_state).values(name=name, value=value, at=now))
    except IntegrityError:
        stored = state_value(conn, name)
        assert stored is not None
        return stored
    return value


def hashing_key(conn: Connection, now: datetime) -> bytes:
    """The key of the hashes the chain keeps instead of personal text: the audit key when one is
    configured, else a random salt stored once per database (stable across restarts)."""
    key = connection_key(conn)
    if key is not None:
        return key
    salt = state_value_or_set(conn, SALT, secrets.token_hex(32), now)
    return bytes.fromhex(salt)


def keyed_digest(key: bytes, purpose: str, text: str) -> str:
    return hmac.new(key, f"{purpose}|{text}".encode(), hashlib.sha256).hexdigest()


def add_inbound_texts(
    conn: Connection,
    rows: Iterable[tuple[int | None, int]],
    *,
    phone: str,
    channel: str,
    keyword: str,
    text: str,
    text_hash: str,
    now: datetime,
) -> None:
    """One row per (customer id or None for an unknown number, audit seq of its event)."""
    values = [
        {
            "customer_id": cid,
            "phone_e164": phone if cid is None else None,
            "channel": channel,
            "keyword": keyword,
            "text": text,
            "text_hash": text_hash,
            "audit_seq": seq,
            "at": now,
        }
        for cid, seq in rows
    ]
    if values:
        conn.execute(insert(inbound_texts), values)


def inbound_texts_by_seq(conn: Connection, customer_id: int) -> dict[int, str]:
    """What the customer wrote, by the seq of the ``inbound.message`` event it belongs to."""
    rows = conn.execute(
        select(inbound_texts.c.audit_seq, inbound_texts.c.text).where(
            inbound_texts.c.customer_id == customer_id
        )
    )
    return {int(r.audit_seq): str(r.text) for r in rows if r.audit_seq is not None}


def erase_inbound_texts(conn: Connection, customer_id: int, phone: str | None) -> int:
    where = inbound_texts.c.customer_id == customer_id
    if phone:
        where = or_(where, inbound_texts.c.phone_e164 == phone)
    return max(int(conn.execute(delete(inbound_texts).where(where)).rowcount or 0), 0)
