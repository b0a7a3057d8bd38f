"""The SMPP submit window against the loopback SMSC (outbound/testing/smsc_js/smsc.js).

The SMSC is told to answer each submit_sm late (``delay``), so submits pile up outstanding;
every ``submit`` event carries how many of that session's submits were unanswered when it
arrived, which is what proves the window (not timing).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from outbound import bootstrap
from outbound.channels.base import Message, Result
from outbound.channels.sms import SmppSms
from outbound.domain.values import Accepted, Channel, Kind
from outbound.observability import metrics
from tests.sms.conftest import Smsc, eventually

AppFactory = Callable[..., bootstrap.App]
CHINESE = "【商店】您的订单A1已由顺丰发出，运单号SF1234567890，预计明天送达，请保持电话畅通。" * 3


def _adapter(make_app: AppFactory, smsc: Smsc, **extra: Any) -> SmppSms:
    sms = make_app(sms=smsc.settings(**extra)).channels()[Channel.SMS]
    assert isinstance(sms, SmppSms) and sms.wait_bound(10)
    return sms


def _messages(count: int, first: int = 0, text: str = "Shop: order {i} shipped") -> list[Message]:
    return [
        Message(i, Channel.SMS, Kind.SHIPPING, i, _phone(i), "en-US", text.format(i=i))
        for i in range(first, first + count)
    ]


def _phone(i: int) -> str:
    return f"+1212555{i:04d}"


def _arrived_once_each(smsc: Smsc, messages: list[Message]) -> None:
    want = sorted(m.to.lstrip("+") for m in messages)
    eventually(lambda: len(smsc.events("message")) >= len(want), what=f"{len(want)} messages")
    assert sorted(e["dest"] for e in smsc.events("message")) == want


def _refs_match_destinations(smsc: Smsc, messages: list[Message], results: list[Result]) -> None:
    """Results come back in input order: each one's ids are the submits to its number."""
    refs = {ref for r in results if isinstance(r, Accepted) for ref in r.provider_refs}

    def reported() -> bool:  # the SMSC's stdout may trail the last submit_sm_resp
        return refs <= {e["id"] for e in smsc.events("submit")}

    eventually(reported, what="every submit reported by the SMSC")
    dest = {e["id"]: e["dest"] for e in smsc.events("submit")}
    for message, result in zip(messages, results, strict=True):
        assert isinstance(result, Accepted), result
        assert {dest[ref] for ref in result.provider_refs} == {message.to.lstrip("+")}


def test_a_batch_goes_out_with_several_submits_outstanding_at_once(
    make_app: AppFactory, smsc: Smsc
) -> None:
    sms = _adapter(make_app, smsc, window=5, throughput_per_second=1000.0)
    smsc.command(cmd="delay", ms=150)
    messages = _messages(12)
    results = sms.send_batch(messages)
    _refs_match_destinations(smsc, messages, results)
    _arrived_once_each(smsc, messages)
    outstanding = [e["outstanding"] for e in smsc.events("submit")]
    assert max(outstanding) == 5  # the whole window, and never more than it
    assert sms.window.most == 5 and sms.window.outstanding == 0


def test_each_answered_submit_feeds_the_smpp_latency_histogram_and_the_window_gauges(
    make_app: AppFactory, smsc: Smsc
) -> None:
    def sample(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"provider": "smpp"}) or 0.0

    sms = _adapter(make_app, smsc, window=5, throughput_per_second=1000.0)
    smsc.command(cmd="delay", ms=50)
    before = sample("outbound_provider_request_seconds_count")
    waited = sample("outbound_provider_request_seconds_sum")
    messages = _messages(6)
    results = sms.send_batch(messages)
    _refs_match_destinations(smsc, messages, results)
    assert sample("outbound_provider_request_seconds_count") == before + 6  # one part each
    # each submit waited for the SMSC's 50 ms delay before its answer
    assert sample("outbound_provider_request_seconds_sum") - waited >= 6 * 0.045
    assert sample("outbound_provider_window") == 5
    assert sample("outbound_provider_in_flight") == 0


def test_throttled_answers_halve_the_window_once_and_every_message_still_arrives_once(
    make_app: AppFactory, smsc: Smsc
) -> None:
    sms = _adapter(make_app, smsc, window=8, throughput_per_second=1000.0)
    smsc.command(cmd="delay", ms=200)
    smsc.command(cmd="fail", status="throttled", count=4)
    messages = _messages(16)
    results = sms.send_batch(messages)
    _refs_match_destinations(smsc, messages, results)
    _arrived_once_each(smsc, messages)
    assert len(smsc.events("refused")) == 4
    # four throttled answers to submits of one round trip: one halving, 8 -> 4; then +1 for
    # each accepted submit, back to 8
    assert (sms.window.aimd.halvings, sms.window.aimd.smallest) == (1, 4)
    assert sms.window.aimd.size == 8


def test_throttling_beyond_the_hold_time_is_a_transient_error_for_that_message_only(
    make_app: AppFactory, smsc: Smsc
) -> None:
    sms = _adapter(make_app, smsc, window=4, response_timeout_seconds=0.3)
    smsc.command(cmd="fail", status="throttled", count=1000)
    (throttled,) = sms.send_batch(_messages(1))
    assert "0x58" in str(throttled) and getattr(throttled, "retry_after", None) == 1.0


def test_a_dropped_link_mid_window_loses_and_duplicates_nothing(
    make_app: AppFactory, smsc: Smsc
) -> None:
    sms = _adapter(make_app, smsc, window=5, throughput_per_second=1000.0)
    smsc.command(cmd="delay", ms=200)
    smsc.command(cmd="drop_next", after=3)  # three submits outstanding, the fourth kills it
    messages = _messages(8)
    results = sms.send_batch(messages)
    assert smsc.events("dropped") and smsc.events("unanswered")
    assert sms.binds == 2
    _refs_match_destinations(smsc, messages, results)
    _arrived_once_each(smsc, messages)


def test_parts_of_a_long_message_go_in_order_while_other_messages_fill_the_window(
    make_app: AppFactory, smsc: Smsc
) -> None:
    sms = _adapter(make_app, smsc, window=4, throughput_per_second=1000.0)
    smsc.command(cmd="delay", ms=100)
    long = Message(99, Channel.SMS, Kind.SHIPPING, 99, _phone(99), "zh-CN", CHINESE)
    messages = [*_messages(3), long, *_messages(3, first=3)]
    results = sms.send_batch(messages)
    _refs_match_destinations(smsc, messages, results)
    parts = [e for e in smsc.events("submit") if e["dest"] == _phone(99).lstrip("+")]
    assert [p["part"]["seq"] for p in parts] == [1, 2, 3]
    _arrived_once_each(smsc, messages)
    (message,) = smsc.events("message", dest=_phone(99).lstrip("+"))
    assert message["text"] == CHINESE
    assert max(e["outstanding"] for e in smsc.events("submit")) > 1


def test_the_shared_rate_limit_holds_with_two_full_windows(
    make_app: AppFactory, smsc: Smsc
) -> None:
    rate, count = 20.0, 30
    adapters = [_adapter(make_app, smsc, window=10, throughput_per_second=rate) for _ in range(2)]
    smsc.command(cmd="delay", ms=100)
    halves = [_messages(count // 2), _messages(count // 2, first=count // 2)]
    results: list[list[Result]] = [[], []]

    def send(k: int) -> None:
        results[k] = adapters[k].send_batch(halves[k])

    threads = [threading.Thread(target=send, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(isinstance(r, Accepted) for r in results[0] + results[1])
    _arrived_once_each(smsc, halves[0] + halves[1])
    stamps = sorted(e["t"] for e in smsc.events("submit"))
    achieved = (count - 1) / ((stamps[-1] - stamps[0]) / 1000)
    assert achieved <= rate * 1.2, f"{achieved:.1f}/s exceeds {rate}/s"
    assert Counter(e["dest"] for e in smsc.events("submit")).most_common(1)[0][1] == 1
