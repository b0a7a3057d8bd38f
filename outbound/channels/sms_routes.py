"""SMS routes: an ordered list of providers per country calling code, with failover.

``[sms] routes`` maps a calling code (``"1"``, ``"86"``) or ``"default"`` to providers tried in
order. A message goes to the first provider of its route that is in service; it moves to the
next one only on a ``Refused`` (an answer proving the provider did not take it: connection
refused, 5xx before acceptance, throttled at a window of one, credentials refused). Any other
error is the message's result: a timeout after the request went out may have been accepted and
is never sent to another provider.

A provider refusing ``failover_after`` times in a row is taken out of every route for
``cool_off_seconds``; then a health check (the adapter's ``check()``, a cheap authenticated
request, where it has one) puts it back, or keeps it out for another cool-off. Each switch is
one log line and one ``Switch`` for the audit trail (``on_switch``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import phonenumbers

from outbound.channels.base import ChannelPort, Message, Refused, Result, send_all
from outbound.domain.errors import ChannelError, TransientChannelError
from outbound.domain.values import Accepted, Channel, SendResult

log = logging.getLogger("outbound.sms.routes")

DEFAULT = "default"


@dataclass(frozen=True)
class Switch:
    """A provider taken out of the routes or put back."""

    provider: str
    action: str  # "out" | "back"
    reason: str


def calling_code(phone: str) -> str:
    """``+8613800135678`` -> ``"86"``; "" when the number cannot be parsed."""
    try:
        return str(phonenumbers.parse(phone, None).country_code)
    except phonenumbers.NumberParseException:
        return ""


@dataclass
class _Health:
    refusals: int = 0
    out_until: float | None = None


@dataclass
class RoutedSms:
    providers: Mapping[str, ChannelPort]
    routes: Mapping[str, Sequence[str]]
    failover_after: int = 3
    cool_off_seconds: float = 60.0
    on_switch: Callable[[Switch], None] = lambda _s: None
    clock: Callable[[], float] = time.monotonic
    channel: Channel = Channel.SMS
    _health: dict[str, _Health] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for code, names in self.routes.items():
            unknown = [n for n in names if n not in self.providers]
            if not names or unknown:
                raise ValueError(
                    f"[sms] routes {code!r} = {list(names)!r}: "
                    + (f"{unknown[0]!r} is not configured" if unknown else "lists no provider")
                    + f"; configured: {sorted(self.providers)}"
                )
        if DEFAULT not in self.routes:
            raise ValueError('[sms] routes needs a "default" route, e.g. default = ["twilio"]')
        self._health = {name: _Health() for name in self.providers}

    def route(self, phone: str) -> list[str]:
        """The providers a message to ``phone`` goes through, in order."""
        return list(self.routes.get(calling_code(phone), self.routes[DEFAULT]))

    def in_service(self, name: str) -> bool:
        health = self._health[name]
        with self._lock:
            until = health.out_until
        if until is None:
            return True
        if self.clock() < until:
            return False
        return self._health_check(name)

    def send(self, message: Message) -> SendResult | Accepted:
        (result,) = self.send_batch([message])
        if isinstance(result, ChannelError):
            raise result
        return result

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        results: list[Result | None] = [None] * len(messages)
        pending = {i: self.route(m.to) for i, m in enumerate(messages)}
        last: dict[int, Result] = {}
        while pending:
            groups: dict[str, list[int]] = {}
            for i, names in list(pending.items()):
                while names and not self.in_service(names[0]):
                    names.pop(0)
                if not names:
                    del pending[i]
                    results[i] = last.get(i) or TransientChannelError(
                        "every provider of the route is out of service", self.cool_off_seconds
                    )
                    continue
                groups.setdefault(names.pop(0), []).append(i)
            for name, indexes in groups.items():
                answers = send_all(self.providers[name], [messages[i] for i in indexes])
                for i, answer in zip(indexes, answers, strict=True):
                    refused = isinstance(answer, Refused)
                    self._count(name, refused, answer)
                    if refused and pending.get(i):
                        last[i] = answer
                        log.info(
                            "delivery %d: %s refused (%s); trying %s",
                            messages[i].delivery_id,
                            name,
                            answer,
                            pending[i][0],
                        )
                        continue
                    pending.pop(i, None)
                    results[i] = answer
        return [
            r if r is not None else TransientChannelError("no provider answered") for r in results
        ]

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()

    def _count(self, name: str, refused: bool, answer: Result) -> None:
        health = self._health[name]
        with self._lock:
            if not refused:
                health.refusals = 0
                return
            health.refusals += 1
            if health.refusals < self.failover_after or health.out_until is not None:
                return
            health.out_until = self.clock() + self.cool_off_seconds
        self._switch(Switch(name, "out", f"{self.failover_after} refusals in a row: {answer}"))

    def _health_check(self, name: str) -> bool:
        check = getattr(self.providers[name], "check", None)
        verdict = check() if callable(check) else "accepted"
        health = self._health[name]
        if verdict != "accepted":
            with self._lock:
                health.out_until = self.clock() + self.cool_off_seconds
            log.info("sms provider %s still out of service: health check %s", name, verdict)
            return False
        with self._lock:
            health.out_until, health.refusals = None, 0
        self._switch(Switch(name, "back", "health check accepted"))
        return True

    def _switch(self, switch: Switch) -> None:
        verb = "taken out of" if switch.action == "out" else "put back into"
        log.warning("sms provider %s %s its routes: %s", switch.provider, verb, switch.reason)
        try:
            self.on_switch(switch)
        except Exception:
            log.exception("recording the switch of sms provider %s failed", switch.provider)
