"""The fallback ladder's rules: which channels are used up, when the next rung is due, whether a
provider error is retried, and which status a suppression gives a notification.

Pure functions over plain values; the services apply them and the store records the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from outbound.domain.values import (
    Channel,
    DeliveryStatus,
    NotificationStatus,
    Outcome,
    RetryPolicy,
    Suppress,
)


@dataclass(frozen=True)
class Ladder:
    """How the ladder moves: delays between rungs, voice retries, provider-error retries."""

    next_rung_delay: timedelta = timedelta(0)
    voice_retries: int = 1
    voice_retry_delay: timedelta = timedelta(minutes=15)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: a concurrent worker took the last unit of a cap between decision and reservation
    recheck_delay: timedelta = timedelta(seconds=5)


class Attempt(Protocol):
    """One earlier delivery of the same notification (a store row has these columns)."""

    @property
    def channel(self) -> str | None: ...

    @property
    def outcome(self) -> str | None: ...


_VOICE_MISSES = (Outcome.NO_ANSWER.value, Outcome.BUSY.value)


def tried_channels(history: Iterable[Attempt], voice_retries: int) -> frozenset[Channel]:
    """Channels the ladder has used up; voice no-answer/busy gets ``voice_retries`` more tries."""
    tried: set[Channel] = set()
    voice_misses = 0
    for attempt in history:
        if attempt.outcome is None or attempt.channel is None:
            continue
        if attempt.channel == Channel.VOICE.value and attempt.outcome in _VOICE_MISSES:
            voice_misses += 1
            if voice_misses <= voice_retries:
                continue
        tried.add(Channel(attempt.channel))
    return frozenset(tried)


def next_rung_delay(ladder: Ladder, after: Channel, history: Iterable[Attempt]) -> timedelta:
    """A voice miss with retries left calls again after ``voice_retry_delay``; else the next
    channel follows after ``next_rung_delay``."""
    voice_again = after is Channel.VOICE and Channel.VOICE not in tried_channels(
        history, ladder.voice_retries
    )
    return ladder.voice_retry_delay if voice_again else ladder.next_rung_delay


def suppressed_status(decision: Suppress, rung: int) -> NotificationStatus:
    """A notification's status when policy suppresses its rung ``rung``."""
    if decision.code.expired:
        return NotificationStatus.EXPIRED
    return NotificationStatus.EXHAUSTED if rung > 0 else NotificationStatus.SUPPRESSED


def suppressed_delivery(decision: Suppress) -> DeliveryStatus:
    return DeliveryStatus.EXPIRED if decision.code.expired else DeliveryStatus.SUPPRESSED


@dataclass(frozen=True)
class Retry:
    after: timedelta


@dataclass(frozen=True)
class GiveUp:
    outcome: Outcome  # FAILED for a transient error retried too often, REJECTED for permanent


def on_error(
    ladder: Ladder, *, transient: bool, attempts: int, retry_after: float | None
) -> Retry | GiveUp:
    """Transient errors are retried with backoff (at least the provider's Retry-After);
    permanent ones, or too many, end this rung."""
    if transient and attempts < ladder.retry.max_attempts:
        wait = ladder.retry.backoff(attempts)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        return Retry(wait)
    return GiveUp(Outcome.FAILED if transient else Outcome.REJECTED)
