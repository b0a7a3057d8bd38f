"""The voice robot's media runs ahead of other work: a dialer raises its threads' priority."""

from __future__ import annotations

import logging
import os
import threading

import pytest

from outbound.voice.sip_setup import media_priority


def _in_a_thread(nice: int) -> tuple[bool, int, int]:
    """media_priority in a fresh thread (Linux: per thread), and the nice of a thread it starts."""
    out: dict[str, object] = {}

    def child() -> None:
        out["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def body() -> None:
        out["ok"] = media_priority(nice)
        out["self"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        worker = threading.Thread(target=child)
        worker.start()
        worker.join(10)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    return bool(out["ok"]), int(out["self"]), int(out["child"])  # type: ignore[call-overload]


def test_the_dialer_thread_and_the_threads_it_starts_run_at_the_configured_nice() -> None:
    if os.geteuid() != 0:
        pytest.skip("raising a priority needs root or CAP_SYS_NICE")
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # 10 under `nice`
    ok, own, child = _in_a_thread(-7)
    assert (ok, own, child) == (True, -7, -7)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # untouched


def test_a_process_that_may_not_raise_its_priority_warns_once_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    with caplog.at_level(logging.WARNING, logger="outbound.voice.sip"):
        assert media_priority(-10) is False
    assert [r.getMessage() for r in caplog.records] == [
        "voice: could not set the dialer's priority to nice -10 (needs root or CAP_SYS_NICE); "
        "on a busy machine callers' speech may be misheard: set [voice] media_nice = 0 to "
        "silence this, or grant the capability"
    ]


def test_nice_zero_leaves_the_priority_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "setpriority", lambda *a: calls.append(a))
    assert media_priority(0) is True
    assert calls == []
