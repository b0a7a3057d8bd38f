"""Interop over an encrypted trunk: a call over SIP/TLS with SDES-SRTP to baresip (Debian
package, nobody here wrote it), with SRTP mandatory on both sides.

baresip listens for TLS on its ``sip_listen`` port + 1 with a certificate made here; the robot
(``outbound call test`` in its own process) checks that certificate against the CA file given
as ``[voice] sip_tls_ca_file``. baresip dumps the audio it decrypted: the robot's prompt must be
in it. Without SRTP on baresip's side the robot's mandatory SRTP must refuse the call.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outbound.testing.callees import envelope, voiced_seconds
from outbound.testing.tls import self_signed
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

Baresip = Callable[[str], tuple[str, Path, Path]]


def _two_free_tcp_ports() -> int:
    """A port p with p and p + 1 free on 127.0.0.1 (baresip: SIP/TCP on p, SIP/TLS on p + 1)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
            try:
                with socket.socket() as b:
                    b.bind(("127.0.0.1", port + 1))
                    return port
            except OSError:
                continue
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture
def baresip_tls(tmp_path: Path) -> Iterator[Baresip]:
    """Starts baresip answering calls over TLS with the given ``mediaenc`` (or none)."""
    binary = require_tool("baresip")
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = self_signed(certs, "baresip.loopback")
    combined = certs / "baresip.pem"  # baresip wants certificate and key in one file
    combined.write_text(cert.read_text() + key.read_text())
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * 40)
    procs: list[subprocess.Popen[bytes]] = []

    def start(mediaenc: str) -> tuple[str, Path, Path]:
        cfg, dumps = tmp_path / f"baresip-{mediaenc}", tmp_path / f"heard-{mediaenc}"
        cfg.mkdir()
        dumps.mkdir()

        def configure() -> int:
            port, rtp = _two_free_tcp_ports(), free_udp_port()
            config = baresip_config(port, rtp, silence, dumps, certificate=combined)
            (cfg / "config").write_text(config)
            return port

        media = f";mediaenc={mediaenc}" if mediaenc != "none" else ""
        (cfg / "accounts").write_text(
            f"<sip:callee@127.0.0.1;transport=tls>;regint=0;answermode=auto;"
            f"audio_codecs=PCMU{media}\n"
        )
        log = tmp_path / f"baresip-{mediaenc}.log"
        proc, port = launch_baresip(binary, cfg, log, configure)
        procs.append(proc)
        return f"sip:callee@127.0.0.1:{port + 1};transport=tls", dumps, log

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _call(voice_env: VoiceEnv, uri: str, ca_file: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **voice_env.env,
        "OUTBOUND_VOICE_SIP_TRANSPORT": "tls",
        "OUTBOUND_VOICE_SIP_TLS_CA_FILE": str(ca_file),
        "OUTBOUND_VOICE_SRTP": "mandatory",
        "OUTBOUND_VOICE_MAX_CALL_SECONDS": "10",
        "OUTBOUND_VOICE_TTS_ENGINE": "espeak",
    }
    cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "call", "test", uri]
    cmd += ["--flow", "shipping", "--locale", "en-US", "--json"]
    return subprocess.run(
        cmd, env=env, cwd=voice_env.tmp, capture_output=True, text=True, timeout=120
    )


def test_a_call_over_tls_with_mandatory_srtp_is_answered_and_baresip_hears_the_prompt(
    voice_env: VoiceEnv, baresip_tls: Baresip, tmp_path: Path
) -> None:
    uri, dumps, log = baresip_tls("srtp-mand")
    done = _call(voice_env, uri, tmp_path / "certs" / "cert.pem")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["outcome"] == "answered" and 200 in out["sip_codes"], out
    assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in log.read_text(
        errors="replace"
    )
    # baresip decrypted the robot's SRTP: its decoded-audio dump holds the prompt's speech
    heard = next(dumps.glob("*-dec.wav"))
    assert voiced_seconds(envelope(heard)) >= 1.0


def test_mandatory_srtp_refuses_a_callee_that_answers_without_it(
    voice_env: VoiceEnv, baresip_tls: Baresip, tmp_path: Path
) -> None:
    uri, dumps, _log = baresip_tls("none")
    done = _call(voice_env, uri, tmp_path / "certs" / "cert.pem")
    out = json.loads(done.stdout)
    assert out["outcome"] == "failed" and "SIP 488 Not Acceptable Here" in out["error"], out
    assert not [p for p in dumps.glob("*-dec.wav") if voiced_seconds(envelope(p)) > 0]
