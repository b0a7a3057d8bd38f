"""Robot -> pjsua2 callee processes over loopback: real prompts, real speech, real Vosk — beside
a second demo's dialer and callees (``neighbour_demo``), as when ``make test`` ran beside
``outbound demo``: processes at media priority competing for the CPU (issue 21 item 16).

One dialer run places five Korean shipping calls, three at a time (the callee process is
pjsua2 too, so it holds 4 calls at most: 3 from the robot plus the transferred one). A callee process answers each by the dialed number's script:

- ``…01`` says "예" after the first prompt (espeak-ng) -> confirmed by speech;
- ``…02`` presses 2 during the first prompt (RFC 2833, barge-in) -> confirmed by DTMF;
- ``…03`` says "상담원" -> the robot transfers it (REFER) to a second callee, the human queue;
- ``…04`` says "그만 그만" -> opt-out: consent revoked, number suppressed, no voice call after;
- ``…05`` is an answering machine: a 7 s greeting at answer -> ``voicemail``, and the robot's
  message (callback number, opt-out) is heard after the greeting ends.

Each callee records what it hears; the recordings are checked against the prompts the robot
rendered with ``outbound.voice.tts`` (envelope cross-correlation, speech timing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outbound.cli.voice import call_values
from outbound.config import load_settings
from outbound.domain.values import Channel, Kind
from outbound.store.tables import (
    consents,
    customers,
    deliveries,
    notifications,
    suppressions,
)
from outbound.testing.callees import (
    Callee,
    best_correlation,
    envelope,
    espeak_wav,
    start_callee,
    voiced_seconds,
)
from outbound.voice.flow import flows_dir, load_kind
from outbound.voice.runner import render
from outbound.voice.tts import Tts
from tests.conftest import require_tool
from tests.integration.helpers import add_customer, shipping, trigger
from tests.voice.conftest import (
    ROOT,
    CallBatches,
    VoiceEnv,
    call_batch,
    free_udp_port,
    midday_zone,
    migrated_sqlite,
    neighbour_demo,
)

pytestmark = pytest.mark.slow

SAYS_YES, PRESSES_2, WANTS_AGENT, SAYS_STOP, MACHINE = (f"+8210123400{n:02d}" for n in range(1, 6))
GREETING = (
    "안녕하세요 지금은 전화를 받을 수 없습니다 삐 소리가 나면 메시지를 남겨 주세요 감사합니다"
)


@dataclass
class Batch:
    env: VoiceEnv
    customer: Callee
    agent: Callee
    rows: dict[str, Any]  # phone -> first delivery row
    ids: dict[str, int]  # phone -> customer id
    dialer_stderr: str
    neighbour_calls: int  # calls the second demo's dialer had placed when ours finished

    def call(self, phone: str) -> int:
        calls = self.customer.calls_to(phone)
        assert len(calls) == 1, (phone, self.customer.events())
        return calls[0]

    def prompt_wav(self, phone: str, text_of: str) -> Path:
        """The WAV the robot played for a ko-KR shipping prompt (same cache, same key)."""
        settings = load_settings(ROOT / "config", None, environ=self.env.env)
        voice = settings.voice
        flow = load_kind("shipping", flows_dir(voice.flows_dir))
        order = f"A{phone[-1]}"
        values = call_values(settings, shipping(order))
        template = (
            flow.voicemail["ko-KR"] if text_of == "voicemail" else flow.steps[text_of].text["ko-KR"]
        )
        shared = Tts(voice.tts_cache_dir, voice.clock_rate, "espeak")
        # a prompt speaking the customer's order number is cached in their own folder
        cache = shared.for_customer(self.ids[phone], shipping(order).values())
        path = cache.wav_for(render(template, values), "ko-KR")
        assert path.stat().st_mtime <= self.customer.status.stat().st_mtime, "not the robot's"
        return path


@call_batch(__name__)
def _calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    require_tool("espeak-ng")
    tmp = tmp_path_factory.mktemp("callee-calls")
    url = migrated_sqlite(tmp / "outbound.db")
    wavs = tmp / "wav"
    wavs.mkdir()
    yes = espeak_wav(wavs / "ye.wav", "예", speed=130)
    agent_word = espeak_wav(wavs / "agent.wav", "상담원", speed=130)
    stop_word = espeak_wav(wavs / "stop.wav", "그만 그만", speed=130)
    greeting = espeak_wav(wavs / "greeting.wav", GREETING)
    started: list[Callee] = []
    try:
        agent = start_callee(tmp, "queue", {"*": {"hangup_after": 2}}, free_udp_port())
        started.append(agent)
        scripts = {
            SAYS_YES: {"reply": str(yes)},
            PRESSES_2: {"dtmf": "2", "dtmf_at": 2.0},
            WANTS_AGENT: {"reply": str(agent_word)},
            SAYS_STOP: {"reply": str(stop_word)},
            MACHINE: {"greeting": str(greeting)},
        }
        customer = start_callee(tmp, "callee", scripts, free_udp_port())
        started.append(customer)
        env = {
            **os.environ,
            "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{customer.port}",
            "OUTBOUND_VOICE_AGENT_URI": agent.uri,
            "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": "5",
            "OUTBOUND_VOICE_TTS_CACHE_DIR": str(tmp / "tts"),
            "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
            "OUTBOUND_WORKER_POLL_SECONDS": "0.1",
            # the callee process is pjsua2 too (4 calls at most): 3 robot calls + 1 transfer
            "OUTBOUND_VOICE_CALLS_PER_DIALER": "3",
        }
        venv = VoiceEnv(url, tmp, env)
        app = venv.app()
        ids = {}
        for phone in (PRESSES_2, WANTS_AGENT, MACHINE, SAYS_YES, SAYS_STOP):  # short first
            ids[phone] = add_customer(
                app, f"K{phone[-2:]}", phone, preference="voice", locale="ko-KR",
                timezone=midday_zone(),
            )  # fmt: skip
            trigger(app, Kind.SHIPPING, ids[phone], shipping(f"A{phone[-1]}"))
        # beside a second demo's dialer and callees: media-priority processes competing with
        # ours, as in production (many dialers on one host); admission control keeps it heard
        with neighbour_demo(tmp / "neighbour") as neighbour:
            done = venv.run_dialer(timeout=240)
            beside = len([e for e in neighbour.customer.events() if e["event"] == "incoming"])
        for callee in started:
            callee.stop()
        assert done.returncode == 0, done.stderr[-3000:]
        with app.engine.begin() as conn:
            found = conn.execute(
                select(deliveries, customers.c.phone_e164.label("phone"))
                .join(notifications, notifications.c.id == deliveries.c.notification_id)
                .join(customers, customers.c.id == notifications.c.customer_id)
                .order_by(deliveries.c.id)
            ).all()
        app.close()
        rows: dict[str, Any] = {}
        for row in found:
            rows.setdefault(row.phone, row)
        yield Batch(venv, customer, agent, rows, ids, done.stderr, beside)
    finally:
        for callee in started:
            callee.stop()


@pytest.fixture(scope="module")
def batch(call_batches: CallBatches) -> Batch:
    """The calls, placed beside the other modules' batches (``CallBatches``) too."""
    found: Batch = call_batches.get(__name__)
    return found


def test_the_calls_ran_beside_a_second_demos_dialer_and_callees(batch: Batch) -> None:
    assert batch.neighbour_calls >= 1


def test_spoken_yes_is_recognised_live_and_the_recording_matches_the_prompt(batch: Batch) -> None:
    row = batch.rows[SAYS_YES]
    assert (row.channel, row.outcome, row.status) == ("voice", "answered", "done")
    d = row.detail
    # understood at the first ask: a clear yes is not asked again (the callee would repeat it)
    assert d["intent"] == "confirmed" and d["intents"] == ["confirm"], d
    assert d["transcript"].endswith("예") and d["confidence"] >= 0.6 and d["dtmf"] == ""
    assert 200 in d["sip_codes"]
    call = batch.call(SAYS_YES)
    prompt = envelope(batch.prompt_wav(SAYS_YES, "intro"))
    heard = envelope(batch.customer.recording(call))
    prompt_s = len(prompt) * 0.02
    # what the callee heard first is the robot's prompt: same speech envelope, same length
    assert best_correlation(heard, prompt, max_lag_s=1.5) >= 0.8
    replied = batch.customer.event(call, "replied")
    assert replied is not None and prompt_s <= replied["t"] <= prompt_s + 3
    assert voiced_seconds(heard, 0, prompt_s + 1) >= 0.5 * voiced_seconds(prompt)
    # then "thank you, goodbye" after the answer, and the robot hung up
    assert voiced_seconds(heard, replied["t"] + 0.5) >= 1.0
    assert prompt_s + 1 <= d["duration_s"] <= len(heard) * 0.02 + 1


def test_key_2_during_the_prompt_confirms_by_dtmf(batch: Batch) -> None:
    d = batch.rows[PRESSES_2].detail
    assert batch.rows[PRESSES_2].outcome == "answered"
    assert (d["intent"], d["dtmf"], d["transcript"]) == ("confirmed", "2", "")
    assert d["confidence"] is None
    prompt_s = len(envelope(batch.prompt_wav(PRESSES_2, "intro"))) * 0.02
    assert d["duration_s"] < prompt_s  # barge-in cut the prompt short


def test_spoken_agent_request_is_transferred_to_the_human_queue(batch: Batch) -> None:
    d = batch.rows[WANTS_AGENT].detail
    assert batch.rows[WANTS_AGENT].outcome == "answered"
    assert d["intent"] == "agent" and "상담원" in d["transcript"] and d["transferred"] is True
    refer = batch.customer.event(batch.call(WANTS_AGENT), "transfer_request")
    assert refer is not None and batch.agent.uri in refer["target"], refer
    # the human queue got the call from the customer's phone, and answered it
    incoming = [e for e in batch.agent.events() if e["event"] == "incoming"]
    assert len(incoming) == 1 and "sip:callee@127.0.0.1" in incoming[0]["remote"]
    assert batch.agent.event(incoming[0]["call"], "confirmed") is not None


def test_spoken_stop_opts_the_customer_out_of_every_following_voice_call(batch: Batch) -> None:
    d = batch.rows[SAYS_STOP].detail
    assert d["intent"] == "opt_out" and "그만" in d["transcript"] and d["actions"] == ["opt_out"], {
        k: d.get(k) for k in ("intent", "intents", "transcript", "confidence", "dtmf", "actions")
    }
    cid = batch.ids[SAYS_STOP]
    app = batch.env.app()
    try:
        with app.engine.begin() as conn:
            revoked = conn.execute(select(consents).where(consents.c.customer_id == cid)).all()
            listed = conn.execute(select(suppressions).where(suppressions.c.customer_id == cid))
            listed_rows = listed.all()
        assert [(r.channel, r.action, r.source) for r in revoked] == [("voice", "revoke", "voice")]
        assert listed_rows and listed_rows[0].reason == "in-call opt-out"
        for order in ("B1", "B2"):
            later = trigger(app, Kind.SHIPPING, cid, shipping(order))
            assert getattr(later.decision, "channel", None) is not Channel.VOICE
    finally:
        app.close()


def test_answering_machine_greeting_gets_the_voicemail_message_after_it(batch: Batch) -> None:
    row = batch.rows[MACHINE]
    assert row.outcome == "voicemail" and row.detail["intent"] == "no_input"
    call = batch.call(MACHINE)
    said = batch.customer.event(call, "said")
    assert said is not None, batch.customer.events()
    heard = envelope(batch.customer.recording(call))
    message = envelope(batch.prompt_wav(MACHINE, "voicemail"))
    after = heard[int((said["t"] + 0.3) / 0.02) :]
    # the whole message (callback number, opt-out) came after the greeting ended
    assert voiced_seconds(after) >= 0.8 * voiced_seconds(message)
    assert best_correlation(after, message, max_lag_s=4.0) >= 0.8
