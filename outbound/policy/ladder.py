"""The fallback ladder's rules: which channels are used up, when the next rung is due, whether a
provider error is retried, and which status a suppression gives a notification.

Pure functions over plain values; the services apply them and the store records the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

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
    voice_retries: int = 1  # extra calls after no answer
    voice_retry_delay: timedelta = timedelta(minutes=15)
    #: extra calls after busy, voicemail left, or an AMD "unsure" answer nobody responded to
    voice_busy_retries: int = 1
    voice_voicemail_retries: int = 0
    voice_unsure_retries: int = 0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: a concurrent worker took the last unit of a cap between decision and reservation
    recheck_delay: timedelta = timedelta(seconds=5)


class Attempt(Protocol):
    """One earlier delivery of the same notification (a store row has these columns)."""

    @property
    def channel(self) -> str | None: ...

    @property
    def outcome(self) -> str | None: ...

    @property
    def detail(self) -> Mapping[str, Any] | None: ...

    @property
    def updated_at(self) -> datetime: ...


#: outcomes of a placed call (every one counts toward a legal attempt limit)
_PLACED = frozenset(
    o.value for o in (Outcome.ANSWERED, Outcome.VOICEMAIL, Outcome.BUSY, Outcome.NO_ANSWER)
)


def retry_class(outcome: str | None, detail: Mapping[str, Any] | None) -> str | None:
    """Which retry budget a voice outcome draws on: busy, no_answer, voicemail, unsure (an
    answer AMD could not classify and nobody responded to), or None (not retried)."""
    if outcome in (Outcome.BUSY.value, Outcome.NO_ANSWER.value, Outcome.VOICEMAIL.value):
        return outcome
    d = detail or {}
    amd = d.get("amd") or {}
    if (
        outcome == Outcome.ANSWERED.value
        and amd.get("result") == "unsure"
        and d.get("intent") == "no_input"
        and not d.get("dtmf")
        and not d.get("transcript")
    ):
        return "unsure"
    return None


def _budget(ladder: Ladder, klass: str) -> int:
    return {
        Outcome.NO_ANSWER.value: ladder.voice_retries,
        Outcome.BUSY.value: ladder.voice_busy_retries,
        Outcome.VOICEMAIL.value: ladder.voice_voicemail_retries,
        "unsure": ladder.voice_unsure_retries,
    }[klass]


def tried_channels(history: Iterable[Attempt], ladder: Ladder) -> frozenset[Channel]:
    """Channels the ladder has used up. A voice call that was busy, unanswered, left a
    voicemail or got an unsure answer is retried while that outcome's budget lasts."""
    tried: set[Channel] = set()
    used: dict[str, int] = {}
    for attempt in history:
        if attempt.outcome is None or attempt.channel is None:
            continue
        if attempt.channel == Channel.VOICE.value:
            klass = retry_class(attempt.outcome, attempt.detail)
            if klass is not None:
                used[klass] = used.get(klass, 0) + 1
                if used[klass] <= _budget(ladder, klass):
                    continue
        tried.add(Channel(attempt.channel))
    return frozenset(tried)


def voice_retry_wanted(ladder: Ladder, history: Iterable[Attempt]) -> bool:
    """After a voicemail or an unsure answer (outcomes that reach the customer), call again?
    ``history`` ends with that call."""
    calls = list(history)
    last = calls[-1] if calls else None
    if last is None or retry_class(last.outcome, last.detail) not in ("voicemail", "unsure"):
        return False
    return Channel.VOICE not in tried_channels(calls, ladder)


def voice_attempt_times(history: Iterable[Attempt]) -> tuple[datetime, ...]:
    """When each robot call of the notification was placed (recorded), oldest first."""
    return tuple(
        a.updated_at for a in history if a.channel == Channel.VOICE.value and a.outcome in _PLACED
    )


def next_rung_delay(ladder: Ladder, after: Channel, history: Iterable[Attempt]) -> timedelta:
    """A voice miss with retries left calls again after ``voice_retry_delay``; else the next
    channel follows after ``next_rung_delay``."""
    voice_again = after is Channel.VOICE and Channel.VOICE not in tried_channels(history, ladder)
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
