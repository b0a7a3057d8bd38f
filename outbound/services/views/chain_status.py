"""The audit chain's verify status for the console, without walking the whole log per page.

A whole walk reads every row (seconds on a log of millions). The monitor keeps the last
result, keyed by the head (seq, hash) and the checkpoint file's content:

* same head, same checkpoint: the cached result (nothing was appended, nothing to check);
* the head moved on: only the rows appended since are checked (``audit.verify_from``), after
  checking that the row the last walk ended at still has its hash and MAC — a rewrite with
  recomputed hashes, a rewound head or a truncated tail changes that row or removes it, and
  then the whole chain is walked again;
* a whole walk at least every ``full_every`` (and on request), since an old row edited in place
  with its stored hash left alone is only found by reading it again.

One monitor per console process; a lock keeps two page loads from walking at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from outbound.domain.errors import OutboundError
from outbound.services.checkpoints import read_checkpoint, scheduled_file, shown
from outbound.store import audit
from outbound.store.anchor import Checkpoint as Checkpoint
from outbound.store.anchor import parse_checkpoint as parse_checkpoint

VerifyResult = audit.VerifyResult


def verify_chain(
    conn: Connection, key: bytes | None = None, checkpoint: Checkpoint | None = None
) -> VerifyResult:
    """Walk the whole chain now (``outbound audit verify``): every link, every MAC with
    ``key``, and the ``checkpoint`` (already signature-checked) when one is given."""
    return audit.verify(conn, key, checkpoint)


@dataclass(frozen=True)
class CheckpointStatus:
    """The last checkpoint ``serve`` wrote ([audit] checkpoint_to), or why it cannot be used."""

    target: str  # as configured, credentials left out
    checkpoint: Checkpoint | None = None
    problem: str = ""  # not a local file, missing, unreadable, or not signed by the key


@dataclass(frozen=True)
class ChainStatus:
    result: audit.VerifyResult
    head_seq: int
    head_hash: str
    checkpoint: CheckpointStatus | None  # None: no [audit] checkpoint_to configured
    full_at: datetime  # when the whole chain was last walked
    walked: int  # rows read for this answer (0: the cached result)
    how: str  # "whole walk", "appended rows" or "cached"


class ChainMonitor:
    def __init__(self, key: bytes | None, checkpoint_to: str, full_every: timedelta) -> None:
        self.key, self.checkpoint_to, self.full_every = key, checkpoint_to, full_every
        self._last: ChainStatus | None = None
        self._token: tuple[int, str, str] | None = None
        self._lock = threading.Lock()

    def status(self, conn: Connection, now: datetime, *, whole: bool = False) -> ChainStatus:
        """The chain's status now; ``whole`` walks every row whatever is cached."""
        with self._lock:
            seq, digest = audit.chain_head(conn)
            checkpoint, identity = self._checkpoint()
            token = (seq, digest, identity)
            last = self._last
            fresh = last is not None and now - last.full_at < self.full_every and not whole
            if fresh and last is not None and token == self._token:
                return replace(last, walked=0, how="cached")
            found = self._resume(conn, last, checkpoint) if fresh and last is not None else None
            if found is not None and last is not None:
                walked = found.checked - (last.result.through.seq if last.result.through else 0)
                status = ChainStatus(
                    found, seq, digest, checkpoint, last.full_at, walked, "appended rows"
                )
            else:
                cp = checkpoint.checkpoint if checkpoint else None
                found = audit.verify(conn, self.key, cp)
                status = ChainStatus(
                    found, seq, digest, checkpoint, now, found.checked, "whole walk"
                )
            self._last, self._token = status, token
            return status

    def _resume(
        self, conn: Connection, last: ChainStatus, checkpoint: CheckpointStatus | None
    ) -> audit.VerifyResult | None:
        """Only the appended rows, when the last answer was a clean walk; None otherwise."""
        if last.result.through is None:
            return None  # a broken chain is walked in full until it verifies again
        cp = checkpoint.checkpoint if checkpoint else None
        return audit.verify_from(conn, last.result.through, self.key, cp)

    def _checkpoint(self) -> tuple[CheckpointStatus | None, str]:
        """The configured checkpoint and an identity of what was read (its text, or the
        problem), so a new checkpoint file is a new cache entry."""
        target = self.checkpoint_to
        if not target:
            return None, ""
        where = shown(target)
        path = scheduled_file(target)
        if path is None:
            if target == "-" or target.startswith(("http://", "https://")):
                problem = "checkpoints go to stdout or a URL; the console cannot read them back"
            else:
                problem = f"no checkpoint file at {where!r} yet (serve writes one on a schedule)"
            return CheckpointStatus(where, problem=problem), problem
        if self.key is None:
            problem = "no audit key is configured, so the checkpoint's signature cannot be checked"
            return CheckpointStatus(where, problem=problem), problem
        try:
            checkpoint = read_checkpoint(self.key, Path(path))
        except OutboundError as exc:
            return CheckpointStatus(where, problem=str(exc)), str(exc)
        return CheckpointStatus(where, checkpoint), checkpoint.to_json()
