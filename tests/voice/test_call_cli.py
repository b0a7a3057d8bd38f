"""``outbound call test``: one real call from the CLI process against a SIPp callee.

Each run is a subprocess: pjsua2 allows one Endpoint per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.voice.conftest import ROOT, VoiceEnv
from tests.voice.test_sipp_calls import _answering_with_keys, _rejecting

pytestmark = pytest.mark.slow
OUTBOUND = str(Path(sys.executable).with_name("outbound"))


def _cli(voice_env: VoiceEnv, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "call", "test", *args]
    return subprocess.run(
        cmd, env=voice_env.env, capture_output=True, text=True, timeout=timeout, cwd=voice_env.tmp
    )


def test_call_test_prints_the_outcome_of_a_key_answer_as_json(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    port = sipp_uas(_answering_with_keys("2"))
    voice_env.env["OUTBOUND_VOICE_TRUNK_URI"] = f"sip:{{number}}@127.0.0.1:{port}"
    done = _cli(voice_env, "+12125550123", "--flow", "shipping", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["target"] == "+1******0123" and "2125550123" not in done.stdout + done.stderr
    assert (out["outcome"], out["intent"], out["dtmf"]) == ("answered", "confirmed", "2")
    assert out["flow"] == "shipping" and 200 in out["sip_codes"]
    assert out["max_seconds_reached"] is False and out["duration_s"] > 0


def test_call_test_to_a_sip_uri_shows_busy_in_a_table(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    port = sipp_uas(_rejecting("486 Busy Here"))
    done = _cli(voice_env, f"sip:desk@127.0.0.1:{port}", "--flow", "renewal", "--locale", "zh-CN")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line}
    assert lines["outcome"] == ["busy"] and lines["sip_codes"][-1] == "486"
    assert lines["locale"] == ["zh-CN"]


def test_call_test_hangs_up_at_max_call_seconds(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    port = sipp_uas(_answering_with_keys())  # answers, never presses a key, waits for BYE
    voice_env.env["OUTBOUND_VOICE_MAX_CALL_SECONDS"] = "2"
    started = time.monotonic()
    done = _cli(voice_env, f"sip:slow@127.0.0.1:{port}", "--flow", "shipping", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["outcome"] == "answered" and out["max_seconds_reached"] is True
    assert out["hangup_mid_prompt"] is False and 1.5 <= out["duration_s"] < 3.5
    assert time.monotonic() - started < 15


def test_call_test_reports_a_rejected_call_and_bad_targets_with_masked_numbers(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    port = sipp_uas(_rejecting("404 Not Found"))
    voice_env.env["OUTBOUND_VOICE_TRUNK_URI"] = f"sip:{{number}}@127.0.0.1:{port}"
    done = _cli(voice_env, "+8613800138000", "--flow", "price_drop")
    assert done.returncode == 1 and "rejected" in done.stdout and "invalid number" in done.stdout
    voice_env.env["OUTBOUND_VOICE_TRUNK_URI"] = ""
    done = _cli(voice_env, "+8613800138000", "--flow", "price_drop", "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["outcome"] == "rejected"
    assert "trunk_uri" in done.stdout and "13800138000" not in done.stdout
    done = _cli(voice_env, "0101234567", "--flow", "shipping")
    assert done.returncode == 2 and "neither an E.164 number" in done.stderr


def test_call_test_in_a_locale_without_a_model_says_so_in_one_line_and_asks_for_keys(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    port = sipp_uas(_answering_with_keys("2"))
    voice_env.env["OUTBOUND_VOICE_ASR_MODEL_ZH_CN"] = ""
    done = _cli(voice_env, f"sip:cn@127.0.0.1:{port}", "--flow", "shipping", "--locale", "zh-CN")
    assert done.returncode == 0, done.stderr[-2000:]
    notes = [line for line in done.stderr.splitlines() if "no speech model for zh-CN" in line]
    assert len(notes) == 1 and "asr_model_zh_cn" in notes[0] and "keys only" in notes[0]
    assert "Traceback" not in done.stderr
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line}
    assert lines["outcome"] == ["answered"] and lines["intent"] == ["confirmed"]


def test_a_call_feeds_the_sip_setup_latency_and_in_flight_metrics(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    """The trunk's answer to the INVITE (here 486) is one ``provider="sip"`` observation; the
    call is in flight while it lasts (the CLI in a process of its own, metrics read after)."""
    port = sipp_uas(_rejecting("486 Busy Here"))
    argv = ["outbound", "--config-dir", str(ROOT / "config"), "call", "test"]
    argv += [f"sip:desk@127.0.0.1:{port}", "--flow", "renewal", "--json"]
    code = (
        "import json, sys\n"
        "from outbound.cli.root import main\n"
        "from outbound.observability import metrics\n"
        f"sys.argv = {argv!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "get = metrics.REGISTRY.get_sample_value\n"
        "names = ('outbound_provider_request_seconds_count', 'outbound_provider_request_seconds_sum',"
        " 'outbound_provider_in_flight')\n"
        "print('METRICS', json.dumps({n: get(n, {'provider': 'sip'}) for n in names}),"
        " file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=voice_env.env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=voice_env.tmp,
    )
    assert json.loads(done.stdout)["outcome"] == "busy", done.stderr[-2000:]
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("METRICS ")]
    sampled = json.loads(line.removeprefix("METRICS "))
    assert sampled["outbound_provider_request_seconds_count"] == 1
    assert 0 < sampled["outbound_provider_request_seconds_sum"] < 30
    assert sampled["outbound_provider_in_flight"] == 0
