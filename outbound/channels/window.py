"""An in-flight window that a provider's throttling answers slow down (AIMD).

Additive increase, multiplicative decrease: every success widens the window by one (up to the
configured size), a throttling answer halves it (down to one). Answers to requests sent before
the last halving don't halve it again, so one burst of throttled answers (a whole window's
worth) counts as one signal, as TCP treats the losses of one round trip.

``Aimd`` is only the arithmetic; the SMPP submit window (threads) and the push window (asyncio)
each keep their own count of what is outstanding and ask ``Aimd`` how much they may have.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Aimd:
    limit: int  # the configured window: never wider
    size: int = 0  # what may be outstanding now
    epoch: int = 0  # bumped at every halving; a request remembers the epoch it was sent in
    smallest: int = 0  # the narrowest the window has been (reports and tests)
    halvings: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"window {self.limit!r} must be at least 1")
        self.size = self.size or self.limit
        self.smallest = self.smallest or self.size

    def grow(self) -> None:
        self.size = min(self.limit, self.size + 1)

    def shrink(self, sent_in: int) -> None:
        """A throttling answer to a request sent in epoch ``sent_in``."""
        if sent_in != self.epoch:
            return  # sent before the last halving: the same congestion, already answered
        self.size = max(1, self.size // 2)
        self.smallest = min(self.smallest, self.size)
        self.epoch += 1
        self.halvings += 1


@dataclass
class AsyncWindow:
    """The push window of one provider: ``async with window.slot() as epoch`` around a request."""

    aimd: Aimd
    outstanding: int = 0
    most: int = 0  # the most outstanding at once (reports and tests)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def acquire(self) -> int:
        async with self._changed:
            await self._changed.wait_for(lambda: self.outstanding < self.aimd.size)
            self.outstanding += 1
            self.most = max(self.most, self.outstanding)
            return self.aimd.epoch

    async def release(self, epoch: int, *, answered: bool, throttled: bool = False) -> None:
        """An answer widens the window, a throttling answer halves it; no answer (a network
        error) leaves it as it is."""
        async with self._changed:
            self.outstanding -= 1
            if throttled:
                self.aimd.shrink(epoch)
            elif answered:
                self.aimd.grow()
            self._changed.notify_all()
