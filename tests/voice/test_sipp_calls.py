"""Robot -> SIPp callee over loopback: real SIP, real RTP DTMF, one outcome row per call."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from outbound.domain.values import Channel, Kind
from outbound.store.tables import consents, deliveries, suppressions
from tests.integration.helpers import NY, add_customer, count, shipping, trigger
from tests.voice.conftest import REFERENCE, ROOT, VoiceEnv, midday_zone

pytestmark = pytest.mark.slow

_REPLY = """
  <send><![CDATA[
      SIP/2.0 {code}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>"""


def _rejecting(code: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="reject">\n'
        '  <recv request="INVITE"/>' + _REPLY.format(code=code) + '\n  <recv request="ACK"/>\n'
        "</scenario>\n"
    )


def _ringing_forever() -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="ring">\n'
        '  <recv request="INVITE">\n    <action><ereg regexp="CSeq: ([0-9]+) INVITE" '
        'search_in="msg" assign_to="all,cseq"/></action>\n  </recv>'
        + _REPLY.format(code="180 Ringing")
        + '\n  <recv request="CANCEL"/>'
        + _REPLY.format(code="200 OK")
        + _REPLY.format(code="487 Request Terminated").replace(
            "[last_CSeq:]", "CSeq: [$cseq] INVITE"
        )
        + '\n  <recv request="ACK"/>\n</scenario>\n'
    )


def _answering_with_keys(*digits: str) -> str:
    xml = (REFERENCE / "uas_dtmf.xml").read_text()
    head, _, tail = xml.partition('  <pause milliseconds="1000"/>')
    _, _, tail = tail.partition('  <recv request="BYE"/>')
    plays = "".join(
        f'  <pause milliseconds="1500"/>\n  <nop><action><exec play_pcap_audio='
        f'"dtmf_2833_{d}_pt120.pcap"/></action></nop>\n'
        for d in digits
    )
    return head + plays + '  <recv request="BYE"/>' + tail


def _call(voice_env: VoiceEnv, sipp_uas: Callable[[str], int], xml: str, **extra: Any) -> Any:
    port = sipp_uas(xml)
    voice_env.env["OUTBOUND_VOICE_TRUNK_URI"] = f"sip:{{number}}@127.0.0.1:{port}"
    app = voice_env.app()
    cid = add_customer(app, "C1", NY, preference="voice", timezone=midday_zone(), **extra)
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    done = voice_env.run_dialer()
    assert done.returncode == 0, done.stderr[-2000:]
    with app.engine.begin() as conn:
        rows = conn.execute(select(deliveries).order_by(deliveries.c.id)).all()
    app.close()
    return rows


def test_key_9_opts_out_revokes_voice_consent_and_suppresses_the_number(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _answering_with_keys("9"))
    first = rows[0]
    assert (first.channel, first.outcome) == ("voice", "answered")
    assert first.detail["intent"] == "opt_out" and first.detail["dtmf"] == "9"
    assert 200 in first.detail["sip_codes"]
    app = voice_env.app()
    with app.engine.begin() as conn:
        revoked = conn.execute(select(consents).where(consents.c.action == "revoke")).all()
        listed = conn.execute(select(suppressions)).all()
    assert [(r.channel, r.purpose, r.source) for r in revoked] == [("voice", None, "voice")]
    assert listed and listed[0].reason == "in-call opt-out"
    second = trigger(app, Kind.SHIPPING, rows[0].notification_id, shipping("A2"))
    assert (
        second.decision is not None
        and getattr(second.decision, "channel", None) is not Channel.VOICE
    )
    app.close()


def test_key_1_repeats_then_key_2_confirms(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _answering_with_keys("1", "2"))
    assert rows[0].outcome == "answered"
    assert rows[0].detail["intents"] == ["repeat", "confirm"] and rows[0].detail["dtmf"] == "12"
    assert rows[0].detail["intent"] == "confirmed"


def test_key_0_asks_for_agent_and_without_agent_uri_gives_callback(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _answering_with_keys("0"))
    assert rows[0].detail["intent"] == "agent" and rows[0].detail["transferred"] is False


def test_486_is_busy_and_plans_a_voice_retry(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _rejecting("486 Busy Here"))
    assert (rows[0].outcome, rows[0].detail["sip_codes"][-1]) == ("busy", 486)
    assert len(rows) == 2 and rows[1].status == "queued"


def test_480_is_no_answer(voice_env: VoiceEnv, sipp_uas: Callable[[str], int]) -> None:
    rows = _call(voice_env, sipp_uas, _rejecting("480 Temporarily Unavailable"))
    assert rows[0].outcome == "no_answer"


def test_ringing_past_the_ring_timeout_is_no_answer(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _ringing_forever())
    assert rows[0].outcome == "no_answer" and rows[0].detail["ring_timeout"] is True


def test_503_is_transient_and_requeued_for_retry(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _rejecting("503 Service Unavailable"))
    assert (rows[0].status, rows[0].outcome) == ("queued", None)
    assert "SIP 503" in rows[0].detail["last_error"]


def test_404_is_rejected_as_invalid_number(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    rows = _call(voice_env, sipp_uas, _rejecting("404 Not Found"))
    assert rows[0].outcome == "rejected" and "invalid number" in rows[0].detail["error"]


def test_sigterm_mid_call_hangs_up_records_the_call_and_exits_cleanly(
    voice_env: VoiceEnv, sipp_uas: Callable[[str], int]
) -> None:
    port = sipp_uas(_answering_with_keys())  # answers, never presses a key
    voice_env.env["OUTBOUND_VOICE_TRUNK_URI"] = f"sip:{{number}}@127.0.0.1:{port}"
    app = voice_env.app()
    cid = add_customer(app, "C1", NY, preference="voice", timezone=midday_zone())
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    cmd = [sys.executable, "-m", "outbound.mains.dialer", "--db", voice_env.db_url]
    cmd += ["--config-dir", str(ROOT / "config"), "--until-idle"]
    proc = subprocess.Popen(cmd, env=voice_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not count(
            app, deliveries, deliveries.c.status == "leased"
        ):
            time.sleep(0.1)
        time.sleep(1.5)  # the prompt is playing
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err[-2000:]
    with app.engine.begin() as conn:
        row = conn.execute(select(deliveries)).one()
    app.close()
    assert row.outcome == "answered" and 200 in row.detail["sip_codes"], row
