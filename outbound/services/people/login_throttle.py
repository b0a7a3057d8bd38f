"""Login attempts per client address: a token bucket, refused before any password is hashed.

Each attempt at ``POST /console/login`` costs an argon2 hash (deliberately slow) and an audit
row; without a bound per address, 30 concurrent guesses took 5.7 s of CPU and wrote 30 rows.
A client gets ``burst`` attempts at once, then ``per_minute`` a minute; an attempt beyond that
is refused at once (HTTP 429 with Retry-After), with no hash and no audit row. The buckets
live in the API process (one per ``serve --workers`` process): a cheap first line, the
per-account lock-out (``[console] max_failed_logins``) stays the durable one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: buckets kept at most; full ones (addresses that stopped trying) are dropped first
MAX_ADDRESSES = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class LoginThrottle:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._now = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, address: str) -> float:
        """0 when ``address`` may try now (the attempt is counted), else the seconds to wait."""
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(address)
            if bucket is None:
                if len(self._buckets) >= MAX_ADDRESSES:
                    self._prune(now)
                bucket = self._buckets[address] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return max(1.0, math.ceil((1 - bucket.tokens) / self.rate))

    def _prune(self, now: float) -> None:
        full = [
            a for a, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst
        ]
        for address in full or list(self._buckets)[: MAX_ADDRESSES // 10]:
            del self._buckets[address]
