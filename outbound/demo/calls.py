"""The demo's live robot calls: callee processes that behave like people and machines, called
by the real dialer process (``outbound.mains.dialer``) over SIP on 127.0.0.1.

Five demo customers in Korea (the Korean Vosk model is the speech model installed by package
name) each reach one behaviour of the loopback callee (``outbound.testing.callee``): one says
"예" (yes), one presses 9 (stop), one asks for "상담원" (an agent) and is transferred to a second
callee acting as the human queue, one is an answering machine (long greeting, then a beep) and
one never answers (a short ring timeout ends it). Every other voice delivery of the demo reaches
the same callee and presses 2 (confirm). The callee replies are rendered by the robot's own TTS.
Callees and the dialer are stopped by PID when the demo ends, also on Ctrl-C or a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from outbound import bootstrap
from outbound.domain.masking import mask_phone
from outbound.domain.values import Channel, Kind
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.services.send import notify, progress
from outbound.testing.callees import Callee, start_callee, with_beep
from outbound.voice.tts import Tts

LOCALE = "ko-KR"
#: (behaviour, phone) of the live-call customers; the script of each is built in ``_scripts``
PERSONAS = [
    ("says yes", "+821012340101"),
    ("presses 9 (stop)", "+821012340102"),
    ("asks for an agent", "+821012340103"),
    ("answering machine", "+821012340104"),
    ("never answers", "+821012340105"),
]
GREETING = (
    "안녕하세요 지금은 전화를 받을 수 없습니다 삐 소리가 나면 이름과 전화번호를 남겨 주세요 "
    "감사합니다"
)
RING_TIMEOUT_SECONDS = 4  # the no-answer callee rings this long before the robot gives up
CALLS_AT_ONCE = 3  # the callee process is pjsua2 too: 4 calls at most, 3 + 1 transfer


def daytime_zone(now: datetime) -> str:
    """An IANA zone where it is about 13:00 now, so quiet hours let the live calls through."""
    offset = (13 - now.astimezone(UTC).hour + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveCalls:
    """The callees, the dialer and what the calls did; ``open_live_calls`` builds one."""

    app: bootstrap.App
    workdir: Path
    customer: Callee
    queue: Callee
    env: dict[str, str]
    engines: str
    ids: dict[str, int] = field(default_factory=dict)  # behaviour -> customer id
    dialer: subprocess.Popen[bytes] | None = None
    description: str = ""

    def seed(self, now: datetime) -> None:
        """The five live-call customers and a shipping notice for each (the webhook path)."""
        zone = daytime_zone(now)
        send = replace(self.app.send_context(), clock=lambda: now)
        with self.app.engine.begin() as conn:
            for n, (behaviour, phone) in enumerate(PERSONAS, start=1):
                raw = {
                    "external_id": f"K{900 + n}",
                    "name": f"Live caller {n}",
                    "phone": phone,
                    "timezone": zone,
                    "locale": LOCALE,
                    "preference": "voice",
                }
                cid, _ = upsert_customer(
                    conn, validate_record(raw), now=now, actor="demo", source="demo"
                )
                self.ids[behaviour] = cid
                payload = {"order_id": f"K{700 + n}", "carrier": "CJ", "tracking_no": f"CJ{n}"}
                notify.notify(
                    conn,
                    send,
                    kind=Kind.SHIPPING,
                    customer_ref=f"#{cid}",
                    payload={**payload, "eta": (now + timedelta(days=2)).date().isoformat()},
                    source="webhook:demo",
                    actor="demo",
                )

    def start_dialer(self) -> None:
        """The production dialer process, pointed at the callee by ``[voice] trunk_uri``."""
        db = self.app.settings.database.url
        cmd = [sys.executable, "-m", "outbound.mains.dialer", "--db", db]
        cmd += ["--config-dir", str(self.app.settings.config_dir)]
        with open(self.workdir / "dialer.err", "wb") as err:
            self.dialer = subprocess.Popen(cmd, env=self.env, stderr=err)

    def await_calls(self, deadline: float) -> bool:
        """Wait until no voice delivery is due now or in flight; False at the deadline."""
        while time.monotonic() < deadline:
            if self.dialer is not None and self.dialer.poll() is not None:
                err = (self.workdir / "dialer.err").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"the dialer exited with {self.dialer.returncode}: {err}")
            with self.app.engine.begin() as conn:
                busy = not progress.drained(conn, Channel.VOICE, self.app.clock())
            if not busy:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """SIGTERM the dialer (it hangs up and records what happened), then the callees."""
        if self.dialer is not None and self.dialer.poll() is None:
            self.dialer.terminate()
            try:
                self.dialer.wait(20)
            except subprocess.TimeoutExpired:
                self.dialer.kill()
                self.dialer.wait(5)
        self.customer.stop()
        self.queue.stop()

    def table(self) -> list[dict[str, Any]]:
        """One row per live call: behaviour, outcome, intent, transcript, confidence, opt-out."""
        rows = []
        by_id = {cid: behaviour for behaviour, cid in self.ids.items()}
        with self.app.engine.begin() as conn:
            found = progress.finished_calls(conn)
            revoked = progress.revoked(conn, Channel.VOICE)
        for r in found:
            d = r.detail or {}
            rows.append(
                {
                    "customer": r.customer_id,
                    "phone": mask_phone(r.phone_e164),
                    "callee": by_id.get(r.customer_id, "presses 2 (other demo calls)"),
                    "outcome": r.outcome,
                    "intent": d.get("intent", "-"),
                    "transcript": d.get("transcript") or "-",
                    "confidence": d.get("confidence"),
                    "amd": (d.get("amd") or {}).get("result", "-"),
                    "opted_out": r.customer_id in revoked,
                }
            )
        return rows


def _scripts(tts: Tts, wavs: Path) -> tuple[dict[str, Any], str]:
    """The callee's script per dialed number, with replies spoken by the robot's TTS."""
    yes = tts.wav_for("예", LOCALE)
    agent = tts.wav_for("상담원", LOCALE)
    greeting = with_beep(tts.wav_for(GREETING, LOCALE), wavs / "greeting-beep.wav")
    engine = "gTTS" if yes.name.startswith("gtts-") else yes.name.split("-")[0]
    by_behaviour: dict[str, dict[str, Any]] = {
        "says yes": {"reply": str(yes)},
        "presses 9 (stop)": {"dtmf": "9", "dtmf_at": 2.0},
        "asks for an agent": {"reply": str(agent)},
        "answering machine": {"greeting": str(greeting)},
        "never answers": {"ring": True},
    }
    scripts = {phone: by_behaviour[behaviour] for behaviour, phone in PERSONAS}
    scripts["*"] = {"dtmf": "2", "dtmf_at": 2.0}
    return scripts, engine


def _asr_engines(app: bootstrap.App) -> str:
    models = app.settings.voice.asr_models()
    spoken = ", ".join(f"{loc} Vosk ({spec})" for loc, spec in sorted(models.items()))
    return f"ASR: {spoken or 'none'}; other locales DTMF-only"


def unavailable() -> str:
    """Why live calls cannot run here ("" when they can): pjsua2 is a PyPI wheel."""
    if importlib.util.find_spec("pjsua2") is None:
        return "pjsua2 is not installed: pip install pjsua2-python"
    return ""


@contextlib.contextmanager
def open_live_calls(app: bootstrap.App, say: Callable[[str], None]) -> Iterator[LiveCalls]:
    """Start the callees (stopped on exit, also on Ctrl-C) and prepare the dialer's settings."""
    voice = app.settings.voice
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="outbound-calls-")))
        tts = Tts(voice.tts_cache_dir, 16000, voice.tts_engine)
        scripts, tts_engine = _scripts(tts, workdir)
        queue = start_callee(workdir, "queue", {"*": {"hangup_after": 2}}, _free_port(), 600)
        stack.callback(queue.stop)
        customer = start_callee(workdir, "callee", scripts, _free_port(), 600)
        stack.callback(customer.stop)
        env = {
            **os.environ,
            "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{customer.port}",
            "OUTBOUND_VOICE_AGENT_URI": queue.uri,
            "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": str(RING_TIMEOUT_SECONDS),
            "OUTBOUND_VOICE_CALLS_PER_DIALER": str(CALLS_AT_ONCE),
            "OUTBOUND_VOICE_RTP_PORT": str(_free_port()),
            "OUTBOUND_WORKER_POLL_SECONDS": "0.2",
        }
        engines = f"TTS: {tts_engine} (robot prompts and callee voices); {_asr_engines(app)}"
        live = LiveCalls(app, workdir, customer, queue, env, engines)
        stack.callback(live.stop)  # runs first: the dialer hangs up before the callees go
        live.description = (
            f"voice: live SIP calls on 127.0.0.1 from the dialer process to loopback callees "
            f"(callee pid {customer.proc.pid}, human queue pid {queue.proc.pid}); {engines}"
        )
        say(live.description)
        yield live


def live_calls(
    app: bootstrap.App, say: Callable[[str], None], stack: contextlib.ExitStack
) -> LiveCalls | None:
    """Live calls when pjsua2 can run here (else voice stays on the scripted log channel)."""
    missing = unavailable()
    if missing:
        say(f"voice: log channel with scripted outcomes ({missing})")
        return None
    return stack.enter_context(open_live_calls(app, say))
