"""``outbound demo`` places live calls: the dialer process calls loopback callee processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from outbound import bootstrap
from outbound.config import load_settings
from outbound.demo.calls import open_live_calls
from outbound.store.db import make_engine, upgrade
from tests.conftest import require_tool
from tests.voice.conftest import ROOT

pytestmark = pytest.mark.slow
OUTBOUND = str(Path(sys.executable).with_name("outbound"))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_demo_calls_people_and_machines_live_and_stops_every_callee(tmp_path: Path) -> None:
    require_tool("espeak-ng")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    proc = subprocess.run(
        [OUTBOUND, "demo", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a bound on a hung demo, not a speed target (benchmarks hold those)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert "live SIP calls on 127.0.0.1" in out["providers"], out["providers"]
    assert re.search(r"TTS: \w+", out["providers"]) and "ASR: ko-KR Vosk" in out["providers"]
    calls = {c["callee"]: c for c in out["calls"]}
    yes = calls["says yes"]
    assert (yes["outcome"], yes["intent"], yes["transcript"]) == ("answered", "confirmed", "예")
    assert yes["confidence"] >= 0.6 and yes["opted_out"] is False
    stop = calls["presses 9 (stop)"]
    assert (stop["outcome"], stop["intent"], stop["opted_out"]) == ("answered", "opt_out", True)
    agent = calls["asks for an agent"]
    assert (agent["intent"], agent["transcript"]) == ("agent", "상담원"), agent
    assert calls["answering machine"]["outcome"] == "voicemail"
    assert calls["never answers"]["outcome"] == "no_answer"
    assert all("*" in c["phone"] for c in out["calls"])  # masked
    pids = [int(p) for p in re.findall(r"pid (\d+)", out["providers"])]
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
