"""en-US speech on live calls with no Vosk model configured: PocketSphinx's bundled model.

One dialer run calls three US customers on a pjsua2 callee process; each answers the first
prompt by voice (espeak-ng en-us voices, through PCMU on the wire): "yes" -> confirmed, "stop"
-> opt-out (consent revoked), "agent" -> agent (no agent_uri here: the callback is offered).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from outbound.domain.values import Kind
from outbound.store.tables import consents, customers, deliveries, notifications
from outbound.testing.callees import Callee, espeak_wav, start_callee
from tests.conftest import require_tool
from tests.integration.helpers import add_customer, shipping, trigger
from tests.voice.conftest import (
    CallBatches,
    VoiceEnv,
    call_batch,
    free_udp_port,
    midday_zone,
    migrated_sqlite,
)

pytestmark = pytest.mark.slow

SAYS_YES, SAYS_STOP, SAYS_AGENT = "+12125550101", "+12125550102", "+12125550103"


@call_batch(__name__)
def _calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], VoiceEnv]]:
    require_tool("espeak-ng")
    tmp = tmp_path_factory.mktemp("english-calls")
    url = migrated_sqlite(tmp / "outbound.db")
    wavs = tmp / "wav"
    wavs.mkdir()
    scripts = {
        SAYS_YES: {"reply": str(espeak_wav(wavs / "yes.wav", "yes", "en-us", 140))},
        SAYS_STOP: {"reply": str(espeak_wav(wavs / "stop.wav", "stop", "en-us+m3", 140))},
        SAYS_AGENT: {"reply": str(espeak_wav(wavs / "agent.wav", "agent", "en-us+f3", 130))},
    }
    started: list[Callee] = []
    try:
        callee = start_callee(tmp, "callee", scripts, free_udp_port())
        started.append(callee)
        env = {
            **os.environ,
            "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{callee.port}",
            "OUTBOUND_VOICE_ASR_MODEL_EN_US": "",  # no Vosk model: PocketSphinx's en-US
            "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": "5",
            "OUTBOUND_VOICE_TTS_CACHE_DIR": str(tmp / "tts"),
            "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
            "OUTBOUND_WORKER_POLL_SECONDS": "0.1",
            "OUTBOUND_VOICE_CALLS_PER_DIALER": "3",
        }
        venv = VoiceEnv(url, tmp, env)
        app = venv.app()
        ids = {}
        for phone in (SAYS_YES, SAYS_STOP, SAYS_AGENT):
            ids[phone] = add_customer(
                app, f"U{phone[-2:]}", phone, preference="voice", locale="en-US",
                timezone=midday_zone(),
            )  # fmt: skip
            trigger(app, Kind.SHIPPING, ids[phone], shipping(f"E{phone[-1]}"))
        done = venv.run_dialer(timeout=120)
        callee.stop()
        assert done.returncode == 0, done.stderr[-3000:]
        with app.engine.begin() as conn:
            found = conn.execute(
                select(
                    deliveries, customers.c.phone_e164.label("phone"), customers.c.id.label("cid")
                )
                .join(notifications, notifications.c.id == deliveries.c.notification_id)
                .join(customers, customers.c.id == notifications.c.customer_id)
                .order_by(deliveries.c.id)
            ).all()
            revoked = conn.execute(select(consents.c.customer_id, consents.c.action)).all()
        app.close()
        rows: dict[str, Any] = {"revoked": revoked}
        for row in found:
            rows.setdefault(row.phone, row)
        yield rows, venv
    finally:
        for c in started:
            c.stop()


@pytest.fixture(scope="module")
def calls(call_batches: CallBatches) -> tuple[dict[str, Any], VoiceEnv]:
    """The calls, placed beside the other modules' batches (``CallBatches``)."""
    found: tuple[dict[str, Any], VoiceEnv] = call_batches.get(__name__)
    return found


def _detail(rows: dict[str, Any], phone: str) -> dict[str, Any]:
    row = rows[phone]
    assert (row.channel, row.outcome) == ("voice", "answered"), row
    d: dict[str, Any] = row.detail
    return d


def test_spoken_yes_in_english_confirms(calls: tuple[dict[str, Any], VoiceEnv]) -> None:
    d = _detail(calls[0], SAYS_YES)
    assert (d["intent"], d["transcript"], d["dtmf"]) == ("confirmed", "yes", ""), d
    assert d["confidence"] >= 0.6


def test_spoken_stop_in_english_opts_out(calls: tuple[dict[str, Any], VoiceEnv]) -> None:
    rows = calls[0]
    d = _detail(rows, SAYS_STOP)
    assert d["intent"] == "opt_out" and d["actions"] == ["opt_out"], d
    cid = rows[SAYS_STOP].cid
    assert (cid, "revoke") in [(r.customer_id, r.action) for r in rows["revoked"]]


def test_spoken_agent_in_english_asks_for_an_agent(calls: tuple[dict[str, Any], VoiceEnv]) -> None:
    d = _detail(calls[0], SAYS_AGENT)
    assert d["intent"] == "agent" and "agent" in d["transcript"], d
    assert d["transferred"] is False  # no agent_uri configured: the callback number is given
