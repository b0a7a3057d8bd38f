"""``outbound demo`` places live calls: the dialer process calls loopback callee processes.

The demo is the session's shared run (``demo_run``, tests/demo_run.py): its live-call table."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from outbound import bootstrap
from outbound.config import load_settings
from outbound.demo.calls import open_live_calls
from outbound.store.db import make_engine, upgrade
from tests.conftest import require_tool
from tests.demo_run import DemoRun, table_rows
from tests.voice.conftest import ROOT

pytestmark = pytest.mark.slow


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_demo_calls_people_and_machines_live_and_stops_every_callee(demo_run: DemoRun) -> None:
    (voice,) = demo_run.lines("voice:")
    assert "live SIP calls on 127.0.0.1" in voice, voice
    assert re.search(r"TTS: \w+", voice) and "ASR: ko-KR Vosk" in voice
    rows = table_rows(demo_run.stdout, "Live calls")
    calls = {c["callee"]: c for c in rows}
    yes = calls["says yes"]
    assert (yes["outcome"], yes["intent"]) == ("answered", "confirmed")
    # Vosk's best path for one spoken "예" is "예" or the grammar's "예 예" (both yes phrases)
    assert yes["transcript"] in ("예", "예 예"), yes["transcript"]
    assert float(yes["confidence"]) >= 0.6 and yes["opted_out"] == "False"
    stop = calls["presses 9 (stop)"]
    assert (stop["outcome"], stop["intent"], stop["opted_out"]) == ("answered", "opt_out", "True")
    agent = calls["asks for an agent"]
    assert (agent["intent"], agent["transcript"]) == ("agent", "상담원"), agent
    assert calls["answering machine"]["outcome"] == "voicemail"
    assert calls["never answers"]["outcome"] == "no_answer"
    assert all("*" in c["phone"] for c in rows)  # masked
    pids = [int(p) for p in re.findall(r"pid (\d+)", voice)]
    assert len(pids) == 2 and all(_gone(p) for p in pids)


def test_a_failing_demo_still_stops_every_callee_by_pid(tmp_path: Path) -> None:
    require_tool("espeak-ng")
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(make_engine(url))
    env = {"OUTBOUND_VOICE_TTS_CACHE_DIR": str(tmp_path / "tts")}
    app = bootstrap.build(load_settings(ROOT / "config", {"database": {"url": url}}, environ=env))
    said: list[str] = []
    try:
        with pytest.raises(RuntimeError, match="boom"), open_live_calls(app, said.append) as live:
            pids = [live.customer.proc.pid, live.queue.proc.pid]
            assert not any(_gone(p) for p in pids)
            raise RuntimeError("boom")
    finally:
        app.close()
    assert all(_gone(p) for p in pids)
    assert f"callee pid {pids[0]}" in said[0]
