"""What the HTTP SMS providers (Twilio, Vonage, Aliyun) share: ``HttpSms``.

Requests go many at a time from one event loop thread (aiohttp keep-alive connections), each
through the provider's in-flight window (AIMD, as SMPP's submit window) after a token of the
account's shared throughput limit (``store.throttle``). A throttling answer halves the window
and the message goes again after a backoff while ``hold_seconds`` allows; at a window of one it
is a ``Refused``, so a route may fail over. No answer after the request went out: the message
may have been taken, so by default it is *not* sent again but recorded as accepted under
``unknown-<idempotency key>`` (``resend_unknown`` makes it transient).

Each request's latency feeds ``outbound_provider_request_seconds{provider}`` and the window
``outbound_provider_in_flight`` / ``outbound_provider_window`` (outbound.observability.metrics).
A provider says how to build, post and read its requests (``_prepare``, ``_post``,
``_throttled``, ``_error``); the loop, the window and the metrics are here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

from outbound.channels.base import Message, Refused, Result
from outbound.channels.push_http import _LoopThread
from outbound.channels.window import Aimd, AsyncWindow
from outbound.domain.errors import ChannelError, PermanentChannelError, TransientChannelError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Accepted, Channel
from outbound.observability import metrics

log = logging.getLogger("outbound.sms.http")

_FIRST_BACKOFF, _MAX_BACKOFF = 0.05, 1.0

#: a provider's answer that is neither taken nor a channel error: (HTTP status, what it said)
Answer = tuple[int, Any]


class Throttle(Protocol):
    def acquire(self) -> None: ...


class HttpSmsSettings(Protocol):
    @property
    def window(self) -> int: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def hold_seconds(self) -> float: ...
    @property
    def resend_unknown(self) -> bool: ...


S = TypeVar("S", bound=HttpSmsSettings)


class HttpSms(Generic[S]):
    """An SMS adapter over a provider's HTTP API (the port of ``channels.base``)."""

    channel = Channel.SMS
    name = "http"  # the provider: log lines, errors and the metrics' ``provider`` label

    def __init__(self, settings: S, throttle: Throttle) -> None:
        self.settings = settings
        self._throttle = throttle
        self.window = AsyncWindow(Aimd(settings.window), provider=self.name)
        self._session: aiohttp.ClientSession | None = None
        self._loop = _LoopThread(f"{self.name}-sms")

    # --- the port -------------------------------------------------------------------------

    def send(self, message: Message) -> Accepted:
        (result,) = self.send_batch([message])
        if isinstance(result, ChannelError):
            raise result
        assert isinstance(result, Accepted)
        return result

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        if not messages:
            return []
        s = self.settings
        limit = (len(messages) / s.window + 1) * (s.timeout_seconds + s.hold_seconds)
        try:
            return self._loop.run(self._send_all(messages), limit + s.hold_seconds)
        except TimeoutError:
            return [TransientChannelError(f"no answer within {limit:.0f}s")] * len(messages)

    def close(self) -> None:
        if self._loop.started:
            self._loop.run(self._aclose())
        self._loop.stop()

    def check(self) -> str:
        """Whether the credentials are accepted (a provider's own read-only request)."""
        return self._loop.run(self._check(), self.settings.timeout_seconds + 1)

    # --- what a provider says -------------------------------------------------------------

    def _headers(self) -> Mapping[str, str]:
        """Headers of every request (e.g. HTTP Basic)."""
        return {}

    def _prepare(self, message: Message) -> Any:
        """What is sent for ``message`` (each try signs it again: ``_signed``), or why not."""
        raise NotImplementedError

    def _signed(self, prepared: Any) -> dict[str, str]:
        return dict(prepared)

    async def _post(
        self, form: dict[str, str], message: Message
    ) -> ChannelError | Accepted | Answer:
        """The answer (status, what the provider said), taken, or what its absence means."""
        raise NotImplementedError

    def _throttled(self, answer: Answer) -> bool:
        raise NotImplementedError

    def _error(self, answer: Answer, message: Message) -> ChannelError:
        raise NotImplementedError

    def _throttled_text(self, answer: Answer, message: Message) -> str:
        return f"{self.name} throttled the send to {mask_phone(message.to)} (HTTP {answer[0]})"

    async def _check(self) -> str:
        raise NotImplementedError

    # --- the loop ---------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                headers=dict(self._headers()),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            )
        return self._session

    async def _aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send_all(self, messages: Sequence[Message]) -> list[Result]:
        results = await asyncio.gather(*(self._send(m) for m in messages), return_exceptions=True)
        out: list[Result] = []
        for result in results:
            if not isinstance(result, BaseException) or isinstance(result, ChannelError):
                out.append(result)
            else:
                log.error("%s send failed unexpectedly", self.name, exc_info=result)
                crashed = f"{self.name} send crashed: {type(result).__name__}"
                out.append(TransientChannelError(crashed))
        return out

    async def _send(self, message: Message) -> Result:
        if not message.to:
            return PermanentChannelError(f"delivery {message.delivery_id}: customer has no phone")
        prepared = self._prepare(message)
        if isinstance(prepared, ChannelError):
            return prepared
        loop = asyncio.get_running_loop()
        give_up, tries = time.monotonic() + self.settings.hold_seconds, 0
        while True:
            epoch = await self.window.acquire()
            try:
                await loop.run_in_executor(None, self._throttle.acquire)
            except ChannelError as exc:
                self.window.release(epoch, answered=False)
                return exc
            at_one = self.window.aimd.size == 1
            with metrics.timed(metrics.PROVIDER_SECONDS.labels(self.name)):
                answer = await self._post(self._signed(prepared), message)
            if isinstance(answer, ChannelError | Accepted):
                self.window.release(epoch, answered=isinstance(answer, Accepted))
                return answer
            throttled = self._throttled(answer)
            self.window.release(epoch, answered=True, throttled=throttled)
            if not throttled:
                return self._error(answer, message)
            where = self._throttled_text(answer, message)
            if at_one:
                return Refused(f"{where} at a window of 1", 1.0)
            wait = min(_FIRST_BACKOFF * 2**tries, _MAX_BACKOFF)
            if time.monotonic() + wait > give_up:
                return TransientChannelError(where, 1.0)
            tries += 1
            await asyncio.sleep(wait)

    def _unknown(self, message: Message, why: str) -> ChannelError | Accepted:
        """Sent, but no answer: the provider may have taken it (none has an idempotency key)."""
        where = f"{self.name} gave no answer for delivery {message.delivery_id} ({why})"
        if self.settings.resend_unknown:
            return TransientChannelError(f"{where}; sending again")
        log.warning("%s: counted as sent, not sent again", where)
        return Accepted(
            (f"unknown-{message.idempotency_key}",), {"provider": self.name, "unknown": "1"}
        )
