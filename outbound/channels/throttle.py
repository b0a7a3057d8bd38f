"""A sender waits for a provider's throughput token, for a bounded time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from outbound.domain.errors import TransientChannelError
from outbound.observability import metrics


class TokenBucket(Protocol):
    """A token source shared by every sender of a provider account (``store.throttle``)."""

    key: str
    rate: float

    def take(self) -> float:
        """0.0 when a token was taken, else the seconds until one will be available."""
        ...


@dataclass
class Throttle:
    """Blocks a sender until the bucket gives it a token; gives up after ``max_wait``."""

    bucket: TokenBucket
    max_wait: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def acquire(self) -> None:
        """Wait for a token; raise ``TransientChannelError`` when none comes within max_wait."""
        start = time.monotonic()
        deadline = start + self.max_wait
        while True:
            wait = self.bucket.take()
            if wait == 0.0:
                limit = self.bucket.key.split(":", 1)[0]  # "smpp", "voice": never the account
                metrics.THROTTLE_WAIT.labels(limit).observe(time.monotonic() - start)
                return
            if time.monotonic() + wait > deadline:
                raise TransientChannelError(
                    f"throughput limit {self.bucket.rate:g}/s on {self.bucket.key!r} "
                    f"busy for {self.max_wait:g}s",
                    retry_after=wait,
                )
            self.sleep(min(wait, 0.25))
