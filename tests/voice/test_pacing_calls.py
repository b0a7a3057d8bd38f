"""The trunk's calls-per-second limit holds across dialer processes (one token bucket row in the
shared database): two dialers, two call slots each, eight due calls to a callee process."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from sqlalchemy import select

from outbound.domain.values import Kind
from outbound.store.tables import deliveries
from outbound.testing.callees import start_callee
from tests.integration.helpers import add_customer, shipping, trigger
from tests.voice.conftest import ROOT, VoiceEnv, free_udp_port, midday_zone

pytestmark = pytest.mark.slow
CPS = 2.0
CALLS = 8


def test_two_dialers_share_the_trunk_calls_per_second_limit(voice_env: VoiceEnv) -> None:
    callee = start_callee(voice_env.tmp, "callee", {"*": {"hangup_after": 0.3}}, free_udp_port())
    procs: list[subprocess.Popen[str]] = []
    try:
        app = voice_env.app()
        for n in range(CALLS):
            cid = add_customer(
                app, f"P{n}", f"+1212555{n:04d}", preference="voice", locale="en-US",
                timezone=midday_zone(),
            )  # fmt: skip
            trigger(app, Kind.SHIPPING, cid, shipping(f"P{n}"))
        for name in ("one", "two"):
            env = {
                **voice_env.env,
                "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{callee.port}",
                "OUTBOUND_VOICE_CALLER_ID": f"sip:dialer-{name}@127.0.0.1",
                "OUTBOUND_VOICE_CALLS_PER_SECOND": str(CPS),
                "OUTBOUND_VOICE_CALLS_PER_DIALER": "2",
                "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
            }
            cmd = [sys.executable, "-m", "outbound.mains.dialer", "--db", voice_env.db_url]
            cmd += ["--config-dir", str(ROOT / "config"), "--until-idle"]
            procs.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True))
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
        with app.engine.begin() as conn:
            outcomes = [r.outcome for r in conn.execute(select(deliveries.c.outcome))]
        app.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        callee.stop()
    assert outcomes.count("answered") == CALLS, outcomes
    incoming = sorted((e["at"], e["remote"]) for e in callee.events() if e["event"] == "incoming")
    assert len(incoming) == CALLS
    assert {"dialer-one" in r for _, r in incoming} == {True, False}  # both dialers called
    times = [at for at, _ in incoming]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # paced: 8 calls at 2/s take at least 3.5 s, and no two calls start together (unpaced,
    # four free slots dial within a few milliseconds)
    assert times[-1] - times[0] >= (CALLS - 1) / CPS - 0.2, gaps
    assert min(gaps) >= 0.5 / CPS, gaps
