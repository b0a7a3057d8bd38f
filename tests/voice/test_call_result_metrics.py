"""Every finished robot call is counted by outcome: the answer rate an operator alerts on."""

from __future__ import annotations

import pytest

from outbound.channels.voice import result_for
from outbound.domain.errors import PermanentChannelError, TransientChannelError
from outbound.observability.metrics import REGISTRY
from outbound.voice.call import CallReport


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("outbound_call_results_total", {"outcome": outcome}) or 0.0


@pytest.mark.parametrize(
    ("report", "outcome"),
    [
        (CallReport(False, [180, 486], 486, "Busy Here"), "busy"),
        (CallReport(False, [180, 487], 487, "Request Terminated", ring_timeout=True), "no_answer"),
        (CallReport(False, [480], 480, "Temporarily Unavailable"), "no_answer"),
    ],
)
def test_unanswered_calls_are_counted_by_outcome(report: CallReport, outcome: str) -> None:
    before = _count(outcome)
    assert str(result_for(report).outcome) == outcome
    assert _count(outcome) == before + 1


def test_a_call_to_an_invalid_number_is_counted_as_invalid() -> None:
    before = _count("invalid")
    with pytest.raises(PermanentChannelError):
        result_for(CallReport(False, [404], 404, "Not Found"))
    assert _count("invalid") == before + 1


def test_a_call_the_network_failed_is_counted_as_failed_and_retried() -> None:
    before = _count("failed")
    with pytest.raises(TransientChannelError):
        result_for(CallReport(False, [503], 503, "Service Unavailable"))
    assert _count("failed") == before + 1
