"""The receipt of every delivery a webhook source made, and what a repeated one is answered.

A delivery's receipt (source, ``webhook-id``, body digest, answer) is written in the
transaction of the event it carried, so a retried delivery is answered from its receipt — the
same answer, marked ``duplicate`` — and never applied twice; the same ``webhook-id`` with
another body is refused (``Reused``). A signed read spends its ``webhook-id`` the same way.
The rows are ``outbound.store.sources``'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import OutboundError
from outbound.store import sources as rows

#: (source id, webhook-id): what a receipt is found by
Key = tuple[int, str]


class Reused(OutboundError):
    """The ``webhook-id`` was used before with a different body."""


REUSED = "webhook-id was already used with a different body (replay refused)"


@dataclass(frozen=True)
class Answer:
    """What a delivery was answered (or is answered again, as a duplicate)."""

    status_code: int
    body: dict[str, Any]


def _replay(seen: Any, digest: str) -> Answer:
    if seen.body_sha256 != digest:
        raise Reused(REUSED)
    return Answer(seen.status_code, {**seen.response, "duplicate": True})


def answered(conn: Connection, key: Key, digest: str) -> Answer | None:
    """The answer again if this delivery has a receipt; None if it is new. Raises ``Reused``
    when its ``webhook-id`` came before with another body."""
    seen = rows.find_receipt(conn, *key)
    return None if seen is None else _replay(seen, digest)


def answered_many(
    conn: Connection, deliveries: Sequence[tuple[Key, str]]
) -> dict[Key, Answer | Reused]:
    """``answered`` for a group of (key, body digest), in one look-up: the deliveries that have
    a receipt, each with its answer or its refusal."""
    seen = rows.find_receipts(conn, [key for key, _ in deliveries])
    out: dict[Key, Answer | Reused] = {}
    for key, digest in deliveries:
        if key in seen:
            try:
                out[key] = _replay(seen[key], digest)
            except Reused as refused:
                out[key] = refused
    return out


def spent(conn: Connection, key: Key) -> bool:
    """The ``webhook-id`` has been used (a signed read is single-use)."""
    return rows.find_receipt(conn, *key) is not None


def record(conn: Connection, key: Key, digest: str, answer: Answer, now: datetime) -> None:
    """Write the receipt of one delivery."""
    record_many(conn, [(key, digest, answer)], now)


def record_many(conn: Connection, done: Sequence[tuple[Key, str, Answer]], now: datetime) -> None:
    """Write the receipts of a group of deliveries, in one statement."""
    rows.store_receipts(
        conn,
        [
            rows.receipt_row(*key, digest, answer.status_code, answer.body, now)
            for key, digest, answer in done
        ],
    )
