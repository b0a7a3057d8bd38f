"""Routes and failover: a message moves to the next provider only when the first one's answer
proves it did not take it; a provider refusing again and again is taken out for a cool-off."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from outbound.channels.base import Message
from outbound.channels.sms_routes import RoutedSms, Switch
from outbound.channels.twilio import TwilioSettings, TwilioSms
from outbound.domain.errors import PermanentChannelError
from outbound.domain.values import Accepted, Channel, Kind
from outbound.store.tables import audit_events, deliveries
from outbound.testing.postgres import free_port
from outbound.testing.twilio import TwilioService
from tests.integration.helpers import NY, SHANGHAI, add_customer, shipping, trigger
from tests.providers.conftest import ACCOUNT, FROM, TOKEN, Running

Start = Callable[..., Running]


class Unlimited:
    def acquire(self) -> None:
        return None


def _adapter(url: str, timeout_seconds: float = 10.0) -> TwilioSms:
    settings = TwilioSettings(
        ACCOUNT, TOKEN, FROM, api_base=url, window=2, timeout_seconds=timeout_seconds
    )
    return TwilioSms(settings, Unlimited())


@pytest.fixture
def second() -> Iterator[TwilioService]:
    service = TwilioService(ACCOUNT, TOKEN)
    yield service
    service.close()


def _message(delivery_id: int = 1, to: str = NY) -> Message:
    return Message(delivery_id, Channel.SMS, Kind.SHIPPING, 1, to, "en-US", "hello")


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _routed(
    first: TwilioSms, then: TwilioSms, switches: list[Switch], clock: Ticks, after: int = 3
) -> RoutedSms:
    return RoutedSms(
        {"a": first, "b": then},
        {"default": ["a", "b"], "86": ["b"]},
        failover_after=after,
        cool_off_seconds=60.0,
        on_switch=switches.append,
        clock=clock,
    )


@pytest.mark.parametrize("answer", [500, 503, 20003])
def test_a_refusing_provider_fails_over_with_exactly_one_accepted_send(
    twilio: TwilioService, second: TwilioService, answer: int
) -> None:
    twilio.script(answer)
    first, then = _adapter(twilio.url), _adapter(second.url)
    routed = _routed(first, then, [], Ticks())
    try:
        (result,) = routed.send_batch([_message()])
    finally:
        routed.close()
    assert isinstance(result, Accepted) and result.provider_refs == (second.sent[0].sid,)
    assert (twilio.refused, len(twilio.sent), len(second.sent)) == (1, 0, 1)


def test_connection_refused_fails_over(second: TwilioService) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    routed = _routed(_adapter(closed), _adapter(second.url), [], Ticks())
    try:
        (result,) = routed.send_batch([_message()])
    finally:
        routed.close()
    assert isinstance(result, Accepted) and len(second.sent) == 1


def test_a_timeout_after_sending_is_never_sent_to_the_next_provider(
    twilio: TwilioService, second: TwilioService
) -> None:
    twilio.loopback.delay = 1.0
    routed = _routed(_adapter(twilio.url, timeout_seconds=0.2), _adapter(second.url), [], Ticks())
    try:
        (result,) = routed.send_batch([_message(7)])
    finally:
        routed.close()
    assert isinstance(result, Accepted) and result.provider_refs == ("unknown-delivery-7",)
    assert second.sent == [] and second.refused == 0


def test_a_permanent_error_is_not_failed_over(twilio: TwilioService, second: TwilioService) -> None:
    twilio.script(21211)
    routed = _routed(_adapter(twilio.url), _adapter(second.url), [], Ticks())
    try:
        (result,) = routed.send_batch([_message()])
    finally:
        routed.close()
    assert isinstance(result, PermanentChannelError) and second.sent == []


def test_throttled_at_a_window_of_one_fails_over(
    twilio: TwilioService, second: TwilioService
) -> None:
    twilio.script(429, 429, 429)
    first = _adapter(twilio.url)
    routed = _routed(first, _adapter(second.url), [], Ticks())
    try:
        (result,) = routed.send_batch([_message()])
    finally:
        routed.close()
    assert first.window.aimd.size == 1
    assert isinstance(result, Accepted) and len(second.sent) == 1 and twilio.sent == []


def test_a_provider_that_keeps_refusing_is_taken_out_then_put_back_by_a_health_check(
    twilio: TwilioService, second: TwilioService
) -> None:
    switches: list[Switch] = []
    clock = Ticks()
    twilio.script(500, 500)
    routed = _routed(_adapter(twilio.url), _adapter(second.url), switches, clock, after=2)
    try:
        routed.send_batch([_message(1)])
        routed.send_batch([_message(2)])
        assert [(s.provider, s.action) for s in switches] == [("a", "out")]
        routed.send_batch([_message(3)])  # straight to b: a is cooling off
        assert twilio.refused == 2 and len(twilio.sent) == 0 and len(second.sent) == 3
        clock.now += 61  # the cool-off is over: a health check (Account GET) puts it back
        (result,) = routed.send_batch([_message(4)])
    finally:
        routed.close()
    assert [(s.provider, s.action) for s in switches] == [("a", "out"), ("a", "back")]
    assert isinstance(result, Accepted) and len(twilio.sent) == 1


def test_routes_pick_providers_by_calling_code(
    twilio: TwilioService, second: TwilioService
) -> None:
    routed = _routed(_adapter(twilio.url), _adapter(second.url), [], Ticks())
    try:
        results = routed.send_batch([_message(1, NY), _message(2, SHANGHAI)])
    finally:
        routed.close()
    assert all(isinstance(r, Accepted) for r in results)
    assert [s.form["To"] for s in twilio.sent] == [NY]
    assert [s.form["To"] for s in second.sent] == [SHANGHAI]


def test_a_route_naming_an_unconfigured_provider_is_refused(twilio: TwilioService) -> None:
    with pytest.raises(ValueError, match=r"routes '1' = \['vonage'\]: 'vonage' is not configured"):
        RoutedSms({"twilio": _adapter(twilio.url)}, {"default": ["twilio"], "1": ["vonage"]})


def test_configured_routes_fail_over_to_the_log_sink_and_audit_the_switch(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio, sms={"routes": {"default": ["twilio", "log"]}, "failover_after": 1})
    twilio.script(500)
    cid = add_customer(running.app, "C1", NY, preference="sms")
    trigger(running.app, Kind.SHIPPING, cid, shipping("A1"))
    assert running.app.dispatcher().run_once() == 1
    with running.app.engine.begin() as conn:
        (row,) = conn.execute(select(deliveries)).all()
        switched = conn.execute(
            select(audit_events.c.action, audit_events.c.subject).where(
                audit_events.c.actor == "routes"
            )
        ).all()
    assert (row.status, row.outcome) == ("done", "delivered")  # by the log sink
    assert twilio.sent == [] and twilio.refused == 1
    assert [tuple(s) for s in switched] == [("provider.out", "sms-provider:twilio")]
