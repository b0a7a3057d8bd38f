"""An in-flight window that a provider's throttling answers slow down (AIMD).

Additive increase, multiplicative decrease: every success widens the window by one (up to the
configured size), a throttling answer halves it (down to one). Answers to requests sent before
the last halving don't halve it again, so one burst of throttled answers (a whole window's
worth) counts as one signal, as TCP treats the losses of one round trip.

``Aimd`` is only the arithmetic; the SMPP submit window (threads) and the push window (asyncio)
each keep their own count of what is outstanding and ask ``Aimd`` how much they may have. A
window given a provider name reports to ``outbound_provider_in_flight`` and
``outbound_provider_window`` (outbound.observability.metrics).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from outbound.observability import metrics


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


class AsyncWindow:
    """The push window of one provider, on one event loop: ``acquire`` before a request,
    ``release`` after its answer. Waiters are woken first come first served, one per free
    slot (a batch of hundreds waiting costs nothing per answer)."""

    def __init__(self, aimd: Aimd, provider: str = "") -> None:
        self.aimd = aimd
        self.provider = provider  # the metrics' label ("": not reported)
        self.outstanding = 0
        self.most = 0  # the most outstanding at once (reports and tests)
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> int:
        """Wait for a slot; the epoch it was taken in (for ``release``)."""
        if self._waiters or self.outstanding >= self.aimd.size:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # a slot is ours once it resolves (``_wake`` counted it)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self.release(self.aimd.epoch, answered=False)
                elif waiter in self._waiters:  # (``release`` drops cancelled ones it meets)
                    self._waiters.remove(waiter)
                raise
        else:
            self._take()
        return self.aimd.epoch

    def release(self, epoch: int, *, answered: bool, throttled: bool = False) -> None:
        """An answer widens the window, a throttling answer halves it; no answer (a network
        error) leaves it as it is."""
        self.outstanding -= 1
        if throttled:
            self.aimd.shrink(epoch)
        elif answered:
            self.aimd.grow()
        if self.provider:
            metrics.window_moved(self.provider, -1, self.aimd.size)
        while self._waiters and self.outstanding < self.aimd.size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)

    def _take(self) -> None:
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        if self.provider:
            metrics.window_moved(self.provider, 1, self.aimd.size)
