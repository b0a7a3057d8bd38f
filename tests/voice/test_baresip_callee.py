"""Interop: a callee nobody here wrote — baresip (Debian package), auto-answer.

baresip runs with its own temp config dir: PCMU only, ``aufile`` as its microphone (a WAV of
silence for as long as the robot's first prompt, then "예 예" from espeak-ng, then silence) and
``sndfile`` dumping what it heard. The robot is ``outbound call test`` in its own process. It
must hear the answer: answered, transcript of 예s only, intent confirmed. baresip is stopped by PID.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import miniaudio
import pytest

from outbound.cli.voice import SAMPLES, call_values
from outbound.config import load_settings
from outbound.domain.values import Kind
from outbound.testing.callees import envelope, voiced_seconds
from outbound.voice.flow import flows_dir, load_kind
from outbound.voice.runner import render
from outbound.voice.tts import Tts
from tests.conftest import require_tool
from tests.voice.conftest import (
    ROOT,
    VoiceEnv,
    baresip_config,
    free_udp_port,
    launch_baresip,
)
from tests.voice.test_call_cli import OUTBOUND

pytestmark = pytest.mark.slow


def _reply_wav(path: Path, silence_s: float, text: str) -> None:
    raw = subprocess.run(
        ["espeak-ng", "-v", "ko", "-s", "130", "--stdout", text], capture_output=True, check=True
    ).stdout
    speech = miniaudio.decode(
        raw, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=8000
    ).samples.tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * silence_s) + speech + b"\0\0" * 8000 * 40)


def _intro_seconds(voice_env: VoiceEnv) -> float:
    """Length of the robot's first Korean shipping prompt (same cache, same text as the call)."""
    settings = load_settings(ROOT / "config", None, environ=voice_env.env)
    flow = load_kind("shipping", flows_dir(settings.voice.flows_dir))
    values = call_values(settings, SAMPLES[Kind.SHIPPING])
    text = render(flow.steps["intro"].text["ko-KR"], values)
    wav = Tts(settings.voice.tts_cache_dir, settings.voice.clock_rate, "espeak").wav_for(
        text, "ko-KR"
    )
    with wave.open(str(wav), "rb") as w:
        return w.getnframes() / w.getframerate()


@pytest.fixture
def baresip(tmp_path: Path, voice_env: VoiceEnv) -> Iterator[tuple[str, Path]]:
    binary = require_tool("baresip")
    require_tool("espeak-ng")
    cfg, dumps = tmp_path / "baresip", tmp_path / "baresip-heard"
    cfg.mkdir()
    dumps.mkdir()
    reply = tmp_path / "reply.wav"
    _reply_wav(reply, _intro_seconds(voice_env) + 1.5, "예 예")

    def configure() -> int:
        port, rtp = free_udp_port(), free_udp_port()
        (cfg / "config").write_text(baresip_config(port, rtp, reply, dumps))
        return port

    (cfg / "accounts").write_text(
        "<sip:callee@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU\n"
    )
    proc, port = launch_baresip(binary, cfg, tmp_path / "baresip.log", configure)
    try:
        yield f"sip:callee@127.0.0.1:{port}", dumps
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_baresip_auto_answers_and_its_spoken_yes_is_confirmed(
    voice_env: VoiceEnv, baresip: tuple[str, Path]
) -> None:
    uri, dumps = baresip
    cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "call", "test", uri]
    cmd += ["--flow", "shipping", "--locale", "ko-KR", "--json"]
    done = subprocess.run(
        cmd, env=voice_env.env, cwd=voice_env.tmp, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["outcome"] == "answered" and 200 in out["sip_codes"], out
    assert out["intent"] == "confirmed", out
    # "예 예" said: Vosk's best path repeats the word two or three times, never another word
    assert out["transcript"].split() in (["예", "예"], ["예", "예", "예"]), out
    assert out["confidence"] >= 0.6 and out["dtmf"] == ""
    # baresip heard the robot: its decoded-audio dump holds the prompt's speech
    heard = next(dumps.glob("*-dec.wav"))
    assert voiced_seconds(envelope(heard)) >= 0.5 * _intro_seconds(voice_env)


def test_baresip_is_started_again_on_new_ports_when_its_sip_port_was_taken(
    tmp_path: Path,
) -> None:
    """A port found free can be taken before baresip binds it (another worker's TCP
    connection): the fixture starts it again on new ports instead of failing the test."""
    binary = require_tool("baresip")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "accounts").write_text("<sip:callee@127.0.0.1>;regint=0;answermode=auto\n")
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = [int(taken.getsockname()[1]), free_udp_port()]
    second = ports[1]
    logs: list[str] = []

    def configure() -> int:
        if (tmp_path / "b.log").exists():
            logs.append((tmp_path / "b.log").read_text(errors="replace"))
        port = ports.pop(0)
        lines = ["poll_method epoll", f"sip_listen 127.0.0.1:{port}", "module_app account.so"]
        (cfg / "config").write_text("\n".join([*lines, ""]))
        return port

    try:
        proc, port = launch_baresip(binary, cfg, tmp_path / "b.log", configure)
    finally:
        taken.close()
    try:
        assert port == second and len(logs) == 1 and "Address already in use" in logs[0]
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
