"""A pjsua2 callee that behaves like a person or a machine: a separate process (pjsua2 allows
one Endpoint each), shared by the voice tests, ``outbound demo`` and ``call test`` checks.

Run with the venv's python: ``python -m outbound.testing.callee CONFIG.json`` (or
``outbound.testing.callees.start_callee``). CONFIG holds::

    {"status": "events.jsonl", "record_dir": "rec/", "user": "callee",
     "scripts": {"+821012340001": {"reply": "ne.wav"}, "*": {"hangup_after": 3}},
     "max_seconds": 90}

It binds a free loopback UDP port, prints ``READY <port>`` and answers every call. What it does
on a call is the script for the dialed number (the user part of the To URI; ``*`` otherwise):

- ``greeting``: a WAV played at answer (an answering machine's greeting);
- ``reply``: a WAV played each time a robot prompt has ended (speech, then ``gap`` seconds of
  silence), at most ``replies`` (2) times: an answer by voice, repeated if the robot asks again;
- ``dtmf``: digits sent (RFC 2833, ``call.dialDtmf``) at the same moment instead, or
  ``dtmf_at`` seconds after answer (pressing a key during the prompt);
- ``hangup_after``: seconds after answer to hang up (otherwise the caller hangs up);
- ``ring``: true to ring (180) and never answer, until the caller gives up (CANCEL).

Everything heard is recorded to ``record_dir/<n>-<user>.wav`` (16 kHz, 16-bit mono). A REFER is
accepted and dialed (pjsua does the transfer). Events go to ``status`` as JSON lines, with ``t``
in seconds since that call was answered and ``at`` the wall-clock time (epoch seconds). Exits on SIGTERM or after ``max_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj

from outbound.voice.tap import AudioTap


class Events:
    def __init__(self, path: str) -> None:
        self._out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at exit
        self._lock = threading.Lock()

    def write(self, **event: Any) -> None:
        event["at"] = round(time.time(), 4)
        with self._lock:
            self._out.write(json.dumps(event, ensure_ascii=False) + "\n")
            self._out.flush()

    def close(self) -> None:
        self._out.close()


class Mouth(pj.AudioMediaPlayer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.ended = False

    def onEof2(self) -> None:
        self.ended = True


class CalleeCall(pj.Call):  # type: ignore[misc]
    def __init__(self, app: Callee, acc: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.app = app
        self.n = len(app.calls) + 1
        self.user = ""
        self.script: dict[str, Any] = {}
        self.answered_at = 0.0
        self.done = False
        self.replies = 0
        self.greeting_ended = False
        self.ear: AudioTap | None = None  # reads this call's recording (no Python per frame)
        self.heard_base = 0.0  # voiced seconds already answered
        self.mouth: Mouth | None = None
        self.recorder: Any = None
        self.transfer_calls: list[CalleeCall] = []

    def t(self) -> float:
        return round(time.monotonic() - self.answered_at, 3) if self.answered_at else 0.0

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered_at:
            self.answered_at = time.monotonic()
            self.app.events.write(event="confirmed", call=self.n, user=self.user)
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.done = True
            self.app.events.write(
                event="disconnected",
                call=self.n,
                user=self.user,
                t=self.t(),
                code=ci.lastStatusCode,
            )
            self.app.finish(self)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            media = self.getAudioMedia(mi.index)
            if self.recorder is None:
                path = Path(self.app.cfg["record_dir"]) / f"{self.n}-{self.user or 'x'}.wav"
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(str(path))
                media.startTransmit(self.recorder)
                # the caller's speech is read from the recording on the main loop: a Python
                # port in the media thread starves the bridge on a busy machine and garbles
                # both what is recorded and what this callee says
                self.ear = AudioTap(path, 16000)
                self.app.events.write(
                    event="recording", call=self.n, user=self.user, path=str(path)
                )
                if self.script.get("greeting"):
                    self.say(self.script["greeting"])
                    self.app.events.write(event="greeting_start", call=self.n, t=self.t())

    def say(self, wav: str) -> None:
        self.mouth = Mouth()
        self.mouth.createPlayer(wav, pj.PJMEDIA_FILE_NO_LOOP)
        self.mouth.startTransmit(self.getAudioMedia(-1))

    def onCallTransferRequest(self, prm: Any) -> None:
        self.app.events.write(event="transfer_request", call=self.n, t=self.t(), target=prm.dstUri)
        new = CalleeCall(self.app, self.app.account)
        new.user = "transfer"
        self.transfer_calls.append(new)
        self.app.calls.append(new)
        prm.newCall = new

    def onCallTransferStatus(self, prm: Any) -> None:
        self.app.events.write(event="transfer_status", call=self.n, code=prm.statusCode)

    def tick(self) -> None:
        """Main loop: act on what the media thread noticed."""
        if self.done or not self.answered_at:
            return
        now = time.monotonic()
        if self.mouth is not None and self.mouth.ended and not self.greeting_ended:
            self.greeting_ended = True
            self.app.events.write(event="said", call=self.n, t=self.t())
        ear, s = self.ear, self.script
        if ear is not None:
            ear.pump()
        gap = float(s.get("gap", 1.0))
        prompt_over = (
            ear is not None
            and ear.voiced_total - self.heard_base >= 1.0
            and ear.silent_for() >= gap
            and (not s.get("greeting") or self.greeting_ended)
        )
        barge_in = s.get("dtmf_at") is not None and now - self.answered_at >= s["dtmf_at"]
        if s.get("dtmf") and not self.replies and (prompt_over or barge_in):
            self.replies += 1
            self.dialDtmf(str(s["dtmf"]))
            heard = ear.voiced_total - self.heard_base if ear is not None else 0.0
            self.app.events.write(event="replied", call=self.n, t=self.t(), heard=heard)
        elif (
            ear is not None
            and s.get("reply")
            and self.replies < int(s.get("replies", 2))
            and prompt_over
        ):
            self.replies += 1
            heard = ear.voiced_total - self.heard_base
            self.heard_base = ear.voiced_total  # the next reply waits for the next prompt
            self.say(s["reply"])
            self.app.events.write(event="replied", call=self.n, t=self.t(), heard=heard)
        if s.get("hangup_after") and now - self.answered_at >= float(s["hangup_after"]):
            self.hang_up()

    def hang_up(self) -> None:
        if not self.done:
            prm = pj.CallOpParam(True)
            with contextlib.suppress(pj.Error):
                self.hangup(prm)
            self.done = True


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self, app: Callee) -> None:
        super().__init__()
        self.app = app

    def onIncomingCall(self, prm: Any) -> None:
        call = CalleeCall(self.app, self, prm.callId)
        ci = call.getInfo()
        user = ci.localUri.split("sip:", 1)[-1].split("@", 1)[0]
        call.user = user
        scripts = self.app.cfg.get("scripts", {})
        call.script = scripts.get(user, scripts.get("*", {}))
        self.app.calls.append(call)
        self.app.events.write(
            event="incoming", call=call.n, user=user, remote=ci.remoteUri, to=ci.localUri
        )
        op = pj.CallOpParam(True)
        op.statusCode = 180 if call.script.get("ring") else 200
        call.answer(op)


class Callee:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.events = Events(cfg["status"])
        self.calls: list[CalleeCall] = []
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.logConfig.level = 1
        ep_cfg.logConfig.consoleLevel = 1
        ep_cfg.medConfig.clockRate = 16000
        ep_cfg.medConfig.sndClockRate = 16000
        self.ep.libInit(ep_cfg)
        self.ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = int(cfg.get("port", 0))
        tcfg.boundAddress = "127.0.0.1"
        tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.port = int(self.ep.transportGetInfo(tid).localName.split(":")[-1])
        self.ep.libStart()
        for codec in self.ep.codecEnum2():
            keep = codec.codecId.startswith(("PCMU/", "PCMA/"))
            self.ep.codecSetPriority(codec.codecId, 255 if keep else 0)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{cfg.get('user', 'callee')}@127.0.0.1:{self.port}"
        acfg.mediaConfig.lockCodecEnabled = False
        acfg.mediaConfig.transportConfig.port = int(cfg.get("rtp_port", 40000))
        acfg.mediaConfig.transportConfig.portRange = 1000
        self.account = Account(self)
        self.account.create(acfg)

    def finish(self, call: CalleeCall) -> None:
        """Close the recording (the WAV header is written when the recorder goes)."""
        if call.recorder is not None:
            call.recorder = None
            self.events.write(event="recorded", call=call.n, user=call.user)
        call.mouth = call.ear = None

    def run(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + float(self.cfg.get("max_seconds", 120))
        print(f"READY {self.port}", flush=True)
        while not stop.is_set() and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
            for call in list(self.calls):
                call.tick()

    def shutdown(self) -> None:
        for call in self.calls:
            call.hang_up()
        end = time.monotonic() + 2
        while time.monotonic() < end and not all(c.done for c in self.calls):
            self.ep.libHandleEvents(20)
        for call in self.calls:
            self.finish(call)
            call.transfer_calls.clear()
        self.calls.clear()
        self.account.shutdown()
        del self.account
        self.ep.libDestroy()
        self.events.close()


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    # a phone has a CPU of its own: on the robot's busy test machine the callee's media clock
    # must not starve either (what it says would reach the robot garbled)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    callee = Callee(cfg)
    try:
        callee.run(stop)
    finally:
        callee.shutdown()


if __name__ == "__main__":
    main()
