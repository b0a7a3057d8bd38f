"""Answering-machine detection on live calls: the dialer process calls pjsua2 callee processes.

- ``…01`` answers "Hello?" and waits (then presses 2 after the prompt) -> human;
- ``…02`` is an answering machine: a long greeting, then a 1 kHz beep -> machine; the robot
  stops its prompt, stays silent through the rest of the greeting and leaves its voicemail
  message after the beep;
- ``…03`` answers and says nothing (presses 2 after the prompt) -> unsure, so the prompt plays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outbound.domain.values import Kind
from outbound.store.tables import customers, deliveries, notifications
from outbound.testing.callees import (
    Callee,
    envelope,
    espeak_wav,
    start_callee,
    voiced_seconds,
    with_beep,
)
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

HUMAN, MACHINE, SILENT = (f"+1212555010{n}" for n in range(1, 4))
GREETING = (
    "Hi, you have reached the Miller family. We cannot take your call right now. "
    "Please leave your name and number after the tone."
)


@dataclass
class Run:
    callee: Callee
    rows: dict[str, Any]
    tmp: Path

    def call(self, phone: str) -> int:
        (call,) = self.callee.calls_to(phone)
        return call


@call_batch(__name__)
def _calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    require_tool("espeak-ng")
    tmp = tmp_path_factory.mktemp("amd-calls")
    url = migrated_sqlite(tmp / "outbound.db")
    hello = espeak_wav(tmp / "hello.wav", "Hello?", voice="en-us")
    greeting = with_beep(espeak_wav(tmp / "greeting.wav", GREETING, "en-us"), tmp / "beep.wav")
    scripts = {
        HUMAN: {"greeting": str(hello), "dtmf": "2"},
        MACHINE: {"greeting": str(greeting)},
        SILENT: {"dtmf": "2"},
    }
    callee = start_callee(tmp, "callee", scripts, free_udp_port())
    try:
        env = {
            **os.environ,
            "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{callee.port}",
            "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": "5",
            "OUTBOUND_VOICE_TTS_CACHE_DIR": str(tmp / "tts"),
            "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
            "OUTBOUND_VOICE_CALLS_PER_SECOND": "10",
            "OUTBOUND_WORKER_POLL_SECONDS": "0.1",
        }
        venv = VoiceEnv(url, tmp, env)
        app = venv.app()
        for phone in (HUMAN, MACHINE, SILENT):
            cid = add_customer(
                app, f"A{phone[-1]}", phone, preference="voice", locale="en-US",
                timezone=midday_zone(),
            )  # fmt: skip
            trigger(app, Kind.SHIPPING, cid, shipping(f"A{phone[-1]}"))
        done = venv.run_dialer(timeout=120)
        callee.stop()
        assert done.returncode == 0, done.stderr[-3000:]
        with app.engine.begin() as conn:
            found = conn.execute(
                select(deliveries, customers.c.phone_e164.label("phone"))
                .join(notifications, notifications.c.id == deliveries.c.notification_id)
                .join(customers, customers.c.id == notifications.c.customer_id)
            ).all()
        app.close()
        yield Run(callee, {r.phone: r for r in found}, tmp)
    finally:
        callee.stop()


@pytest.fixture(scope="module")
def run(call_batches: CallBatches) -> Run:
    """The calls, placed beside the other modules' batches (``CallBatches``)."""
    found: Run = call_batches.get(__name__)
    return found


def test_a_short_hello_then_silence_is_a_person_and_hears_the_prompt(run: Run) -> None:
    row = run.rows[HUMAN]
    amd = row.detail["amd"]
    assert (row.outcome, amd["result"], amd["cause"]) == ("answered", "human", "voice_then_silence")
    assert amd["decided_ms"] <= 5000 and row.detail["intent"] == "confirmed"


def test_a_long_greeting_with_a_beep_is_a_machine_and_the_message_follows_the_beep(
    run: Run,
) -> None:
    row = run.rows[MACHINE]
    amd = row.detail["amd"]
    assert (row.outcome, amd["result"], amd["beep"]) == ("voicemail", "machine", True), amd
    assert amd["decided_ms"] <= 5000
    call = run.call(MACHINE)
    said = run.callee.event(call, "said")  # the greeting WAV ended: beep end + 0.2 s
    assert said is not None, run.callee.events()
    beep_end = said["t"] - 0.2
    heard = envelope(run.callee.recording(call))
    # after the verdict the robot stopped its prompt and kept quiet through the greeting …
    quiet_from = amd["decided_ms"] / 1000 + 0.6
    assert voiced_seconds(heard, quiet_from, beep_end - 0.1) <= 0.2
    # … and left its whole message after the beep
    assert voiced_seconds(heard, beep_end) >= 3.0


def test_silence_at_answer_is_unsure_and_the_prompt_plays_as_to_a_person(run: Run) -> None:
    row = run.rows[SILENT]
    amd = row.detail["amd"]
    assert (row.outcome, amd["result"], amd["cause"]) == ("answered", "unsure", "initial_silence")
    heard = envelope(run.callee.recording(run.call(SILENT)))
    assert voiced_seconds(heard, 0, 8) >= 4.0  # the intro prompt was not cut at the verdict
    assert row.detail["intent"] == "confirmed"
