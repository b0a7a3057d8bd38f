"""``outbound call test`` against the shared loopback callee (``outbound.testing.callee``): an
operator's check of a flow with a callee that answers by voice, and with an answering machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outbound.testing.callees import espeak_wav, start_callee, with_beep
from tests.conftest import require_tool
from tests.voice.conftest import ROOT, CallBatches, call_batch, free_udp_port

pytestmark = pytest.mark.slow
OUTBOUND = str(Path(sys.executable).with_name("outbound"))


@call_batch(__name__)
def _checks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both operators' checks, placed beside the other modules' batches (``CallBatches``)."""
    require_tool("espeak-ng")
    tmp = tmp_path_factory.mktemp("call-test")
    base_env = {
        **os.environ,
        "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": "3",
        "OUTBOUND_VOICE_TTS_CACHE_DIR": str(tmp / "tts"),
    }
    yes = espeak_wav(tmp / "ye.wav", "예", speed=130)
    greeting = espeak_wav(
        tmp / "greeting.wav", "안녕하세요 지금은 전화를 받을 수 없습니다 메시지를 남겨 주세요"
    )
    scripts = {
        "yes": {"reply": str(yes)},
        "machine": {"greeting": str(with_beep(greeting, tmp / "b.wav"))},
    }
    callee = start_callee(tmp, "callee", scripts, free_udp_port())
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        # both operators' checks at once, as two terminals would: each its own RTP port
        for user in ("yes", "machine"):
            cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "call", "test"]
            cmd += [f"sip:{user}@127.0.0.1:{callee.port}", "--flow", "shipping"]
            cmd += ["--locale", "ko-KR", "--json"]
            env = {**base_env, "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port())}
            procs[user] = subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp
            )
        outs = {}
        for user, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderr[-2000:]
            outs[user] = json.loads(stdout)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        callee.stop()
    yield outs


def test_call_test_hears_a_spoken_yes_and_detects_a_machine_on_the_shared_callee(
    call_batches: CallBatches,
) -> None:
    outs = call_batches.get(__name__)
    said = outs["yes"]
    # understood at the first ask: a clear yes is not asked again (the callee would repeat it)
    assert (said["outcome"], said["intent"], said["intents"]) == (
        "answered",
        "confirmed",
        ["confirm"],
    ), said
    assert said["transcript"].endswith("예") and said["confidence"] >= 0.6
    machine = outs["machine"]
    assert machine["outcome"] == "voicemail"
    assert (machine["amd"]["result"], machine["amd"]["beep"]) == ("machine", True)
