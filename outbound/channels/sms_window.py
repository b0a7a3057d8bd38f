"""The SMPP submit window: several ``submit_sm`` outstanding on one session at once.

Each ``submit_sm`` is matched to its ``submit_sm_resp`` by sequence number (the adapter keeps a
future per sequence). The window is the adapter's, shared by every thread that sends through
it; its size is ``[sms] window``, halved by a throttling answer (ESME_RTHROTTLED,
ESME_RMSGQFUL) and widened by one per accepted submit (AIMD, ``outbound.channels.window``).
Every part still takes its token from the shared throughput limit first.

What happens to one message (a ``Job``):

* its parts go in order: part k+1 is submitted once part k was accepted;
* a throttling answer: the same part again after a short backoff, for at most ``hold``
  seconds, then a ``TransientChannelError`` (the delivery goes back to the queue);
* the link dropped before the SMSC answered: never acknowledged, so not accepted; the part is
  submitted once more on the new link, and a second drop is a ``TransientChannelError``;
* no answer within the response timeout: a ``TransientChannelError`` (it may have been
  accepted: SMPP cannot tell).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from outbound.channels.base import Message, Result
from outbound.channels.sms_text import ESM_UDHI, SmsPlan, plan, udh
from outbound.channels.window import Aimd
from outbound.domain.errors import ChannelError, PermanentChannelError, TransientChannelError
from outbound.domain.values import Accepted
from outbound.observability import metrics

THROTTLING = frozenset({0x58, 0x14})  # ESME_RTHROTTLED, ESME_RMSGQFUL
_FIRST_BACKOFF, _MAX_BACKOFF = 0.05, 1.0  # seconds between throttled tries of one part


class LinkDropped(Exception):
    """The link went down before the SMSC answered."""


class Link(Protocol):
    """What the window needs of the adapter's SMPP session."""

    def acquire_token(self) -> None:
        """Wait for the shared throughput limit (``TransientChannelError`` when it stays busy)."""

    def submit(self, fields: dict[str, Any]) -> tuple[int, Future[Any]]:
        """Send one ``submit_sm``; its sequence number and the future of its response."""
        ...

    def forget(self, sequence: int) -> None:
        """Stop waiting for the response to ``sequence``."""

    def message_id(self, resp: Any, phone: str) -> str:
        """The accepted message id, or raise the ``ChannelError`` the status means."""
        ...


@dataclass(eq=False)
class Job:
    """One message: its parts' ``submit_sm`` fields, and what came of them."""

    phone: str
    parts: Sequence[dict[str, Any]]
    ids: list[str] = field(default_factory=list)
    drops: int = 0  # link drops while its current part was outstanding
    throttled_since: float | None = None
    tries: int = 0  # throttled tries so far
    result: tuple[str, ...] | ChannelError | None = None


#: the adapter's ``submit_sm`` fields of one part: (phone, payload, data_coding, esm_class)
Fields = Callable[[str, bytes, int, int], dict[str, Any]]


def parts(phone: str, sms: SmsPlan, fields: Fields) -> list[dict[str, Any]]:
    """The ``submit_sm`` fields of every part (a concatenation UDH when there are several)."""
    if not sms.concatenated:
        return [fields(phone, sms.parts[0], sms.data_coding, 0)]
    reference, total = random.randint(0, 255), len(sms.parts)
    return [
        fields(phone, udh(reference, total, seq) + payload, sms.data_coding, ESM_UDHI)
        for seq, payload in enumerate(sms.parts, start=1)
    ]


def message_job(message: Message, fields: Fields) -> tuple[Job, SmsPlan | None]:
    """A message's job and its plan; a message that can't go is a job already ended."""
    job = Job(message.to, ())
    if not message.to:
        job.result = PermanentChannelError(f"delivery {message.delivery_id}: customer has no phone")
        return job, None
    try:
        sms = plan(message.text)
    except ValueError as exc:  # more than 255 parts
        job.result = PermanentChannelError(f"delivery {message.delivery_id}: {exc}")
        return job, None
    job.parts = parts(message.to, sms, fields)
    return job, sms


def job_result(job: Job, sms: SmsPlan | None) -> Result:
    if isinstance(job.result, ChannelError):
        return job.result
    if job.result is None or sms is None:  # the window ends every job: a safeguard
        return TransientChannelError("submit ended without an answer")
    detail = {"encoding": sms.encoding, "units": sms.units, "parts": len(sms.parts)}
    return Accepted(job.result, detail)


class SubmitWindow:
    """Outstanding submits of one session, shared by every sender thread."""

    def __init__(
        self, size: int, timeout: float, hold: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.aimd = Aimd(size)
        self.timeout, self.hold, self.clock = timeout, hold, clock
        self.outstanding = 0
        self.most = 0  # the most outstanding at once (reports and tests)
        self.changed = threading.Condition()

    def run(self, link: Link, jobs: Sequence[Job]) -> None:
        """Submit every job's parts; each job ends with its message ids or an error."""
        _Batch(self, link, jobs).run()

    def take(self) -> int | None:
        """A slot, if one is free (under ``changed``): the epoch it was taken in."""
        if self.outstanding >= self.aimd.size:
            return None
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        metrics.window_moved("smpp", 1, self.aimd.size)
        return self.aimd.epoch

    def give_back(self, epoch: int, *, answered: bool, throttled: bool = False) -> None:
        """Under ``changed``: the slot is free again; the answer steers the window."""
        self.outstanding -= 1
        if throttled:
            self.aimd.shrink(epoch)
        elif answered:
            self.aimd.grow()
        metrics.window_moved("smpp", -1, self.aimd.size)
        self.changed.notify_all()


@dataclass
class _Flying:
    job: Job
    epoch: int
    deadline: float
    sent: (
        float  # time.perf_counter() at the submit (its latency: outbound_provider_request_seconds)
    )


class _Batch:
    """One caller's jobs through the shared window; state changes under ``window.changed``."""

    def __init__(self, window: SubmitWindow, link: Link, jobs: Sequence[Job]) -> None:
        self.window, self.link = window, link
        self.ready: deque[Job] = deque(j for j in jobs if j.result is None)
        self.left = len(self.ready)
        self.later: list[tuple[float, int, Job]] = []  # (not before, tiebreak, job)
        self.flying: dict[int, _Flying] = {}
        self.answers: deque[tuple[Job, Any]] = deque()  # (job, response or exception)
        self._order = itertools.count()

    def run(self) -> None:
        cond = self.window.changed
        while True:
            with cond:
                now = self.window.clock()
                self._settle(now)
                if self.left == 0:
                    return
                epoch = self.window.take() if self.ready else None
                if epoch is None:
                    cond.wait(self._sleep(now))
                    continue
                job = self.ready.popleft()
            self._send(job, epoch)

    def _send(self, job: Job, epoch: int) -> None:
        """Outside the lock: the token, then the submit; its answer comes by callback."""
        cond = self.window.changed
        try:
            self.link.acquire_token()
            sequence, future = self.link.submit(job.parts[len(job.ids)])
        except (LinkDropped, ChannelError) as exc:
            with cond:
                self.window.give_back(epoch, answered=False)
                self.answers.append((job, exc))
            return
        with cond:
            deadline = self.window.clock() + self.window.timeout
            self.flying[sequence] = _Flying(job, epoch, deadline, time.perf_counter())
        future.add_done_callback(lambda f: self._answered(sequence, f))

    def _answered(self, sequence: int, future: Future[Any]) -> None:
        """The reader thread (or a dropped link): free the slot, queue the answer."""
        with self.window.changed:
            flying = self.flying.pop(sequence, None)
            if flying is None:
                return  # timed out already
            metrics.PROVIDER_SECONDS.labels("smpp").observe(time.perf_counter() - flying.sent)
            exc = future.exception()
            if exc is not None:
                self.window.give_back(flying.epoch, answered=False)
                self.answers.append((flying.job, exc))
                return
            resp = future.result()
            throttled = int(resp.status) in THROTTLING
            self.window.give_back(flying.epoch, answered=True, throttled=throttled)
            self.answers.append((flying.job, resp))

    def _settle(self, now: float) -> None:
        while self.answers:
            job, outcome = self.answers.popleft()
            if isinstance(outcome, LinkDropped):
                self._dropped(job)
            elif isinstance(outcome, ChannelError):
                self._finish(job, outcome)
            elif isinstance(outcome, BaseException):
                self._finish(job, TransientChannelError(f"submit failed: {type(outcome).__name__}"))
            elif int(outcome.status) in THROTTLING:
                self._throttled(job, outcome, now)
            else:
                self._accepted(job, outcome)
        for sequence, flying in list(self.flying.items()):
            if flying.deadline <= now:
                del self.flying[sequence]
                self.link.forget(sequence)
                self.window.give_back(flying.epoch, answered=False)
                timeout = self.window.timeout
                error = TransientChannelError(f"no submit_sm_resp within {timeout:g}s", timeout)
                self._finish(flying.job, error)
        while self.later and self.later[0][0] <= now:
            self.ready.append(heapq.heappop(self.later)[2])

    def _accepted(self, job: Job, resp: Any) -> None:
        try:
            job.ids.append(self.link.message_id(resp, job.phone))
        except ChannelError as exc:
            self._finish(job, exc)
            return
        job.drops = 0
        if len(job.ids) == len(job.parts):
            self._finish(job, tuple(job.ids))
        else:
            self.ready.appendleft(job)  # its next part, ahead of new messages

    def _throttled(self, job: Job, resp: Any, now: float) -> None:
        job.throttled_since = job.throttled_since if job.throttled_since is not None else now
        if now - job.throttled_since >= self.window.hold:
            try:
                self.link.message_id(resp, job.phone)
            except ChannelError as exc:  # "SMSC status 0x58 (throttled)", retry after 1 s
                self._finish(job, exc)
            return
        wait = min(_FIRST_BACKOFF * 2**job.tries, _MAX_BACKOFF)
        job.tries += 1
        heapq.heappush(self.later, (now + wait, next(self._order), job))

    def _dropped(self, job: Job) -> None:
        job.drops += 1
        if job.drops >= 2:
            error = TransientChannelError("SMSC link dropped twice before acknowledging", 5.0)
            self._finish(job, error)
        else:
            self.ready.appendleft(job)  # never acknowledged: once more, on the new link

    def _finish(self, job: Job, result: tuple[str, ...] | ChannelError) -> None:
        job.result = result
        self.left -= 1

    def _sleep(self, now: float) -> float:
        """Until the next deadline or backoff ends (an answer wakes the wait sooner)."""
        wakes = [f.deadline for f in self.flying.values()] + [t for t, _, _ in self.later[:1]]
        return max(min(wakes, default=now + 1.0) - now, 0.001)
