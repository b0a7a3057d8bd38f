"""``outbound demo`` places live calls: the dialer process calls loopback callee processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool

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
    started = time.monotonic()
    proc = subprocess.run(
        [OUTBOUND, "demo", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
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
    assert time.monotonic() - started < 120  # "about a minute" with room for a busy machine
    pids = [int(p) for p in re.findall(r"pid (\d+)", out["providers"])]
    assert len(pids) == 2 and all(_gone(p) for p in pids)
