"""Admission control in the real dialer process: a refused dialer leaves the delivery queued
(not failed, no call placed), says why in one log line, shows ``refusing`` in the state table
and removes its row when it stops; the media clock probe measures a real pjsua2 bridge."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

from outbound.domain.values import Kind
from outbound.store.tables import deliveries
from outbound.store.voice_admission import admission_states
from tests.integration.helpers import add_customer, shipping, trigger
from tests.voice.conftest import ROOT, VoiceEnv, free_udp_port, midday_zone


def _states(env: VoiceEnv) -> list[tuple[str, str]]:
    app = env.app()
    try:
        with app.engine.begin() as conn:
            return [(r.state, r.reason) for r in admission_states(conn)]
    finally:
        app.close()


def test_a_refusing_dialer_leaves_the_delivery_queued_and_says_why(voice_env: VoiceEnv) -> None:
    app = voice_env.app()
    cid = add_customer(
        app, "K1", "+821012349901", preference="voice", locale="ko-KR", timezone=midday_zone()
    )
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    app.close()
    env = {
        **voice_env.env,
        # nobody listens there: a call placed would fail and change the delivery
        "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{free_udp_port()}",
        # a load average above 0.0001 per core: any machine running this test
        "OUTBOUND_VOICE_ADMIT_MAX_LOAD_PER_CORE": "0.0001",
        "OUTBOUND_VOICE_ADMIT_RETRY_SECONDS": "0.5",
    }
    cmd = [sys.executable, "-m", "outbound.mains.dialer", "--db", voice_env.db_url]
    cmd += ["--config-dir", str(ROOT / "config")]
    err = voice_env.tmp / "dialer.err"
    with open(err, "wb") as stderr:
        dialer = subprocess.Popen(cmd, env=env, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _states(voice_env):
            assert dialer.poll() is None, err.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        states = _states(voice_env)
        assert len(states) == 1 and states[0][0] == "refusing", states
        assert states[0][1].startswith("load average "), states
        assert "(admit_max_load_per_core = 0.0001)" in states[0][1]
        app = voice_env.app()
        with app.engine.begin() as conn:
            rows = conn.execute(deliveries.select()).all()
        app.close()
        assert [(r.channel, r.status, r.outcome, r.attempts) for r in rows] == [
            ("voice", "queued", None, 0)
        ]
    finally:
        dialer.send_signal(signal.SIGTERM)
        dialer.wait(30)
    log = err.read_text(errors="replace")
    assert dialer.returncode == 0, log[-2000:]
    assert "voice admission refused: load average" in log
    assert "deliveries stay queued" in log
    assert _states(voice_env) == []  # a dialer that stops removes its row


PROBE = textwrap.dedent(
    """
    import json, time
    from outbound.voice.admission import ClockProbe, MediaClock
    from outbound.voice.sip import SipConfig, SipEngine

    engine = SipEngine(SipConfig(rtp_port={rtp}))
    clock = MediaClock(16000)
    probe = ClockProbe(engine.record_clock, clock)
    deadline, late = time.monotonic() + 60, None
    while late is None and time.monotonic() < deadline:
        engine.poll(10)
        probe.sample()
        late = clock.late_ms()
    heard = clock.audio_seconds
    folder = probe.dir
    engine.shutdown()
    probe.close()
    print(json.dumps({{"late": late, "audio": heard, "left": folder.exists()}}))
    """
)


def test_the_probe_measures_the_real_bridge_clock_and_leaves_no_file() -> None:
    code = PROBE.format(rtp=free_udp_port())
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(got["late"], float) and got["late"] >= 0.0
    assert got["audio"] > 0.0 and got["left"] is False
