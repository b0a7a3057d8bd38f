"""SIP calls with pjsua2 — the only module that imports it.

One ``Endpoint`` per process (a second one aborts the process), null audio device, PCMU/PCMA
only, ``threadCnt=0`` + ``mainThreadOnly``: SIP and DTMF callbacks run on the thread that calls
``SipEngine.poll``. Other threads never call pjsua2 themselves: they ``submit`` a function that
the polling thread runs, and wait for its result. Media-thread callbacks (player EOF, received
frames) only set flags and queue bytes. At most 4 calls per process (the wheel's compile-time
cap); ``makeCall`` is retried on PJ_ETOOMANY because a slot frees a little after DISCONNECTED.
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pjsua2 as pj

from outbound.domain.masking import mask_text

log = logging.getLogger("outbound.voice.sip")
T = TypeVar("T")
PJ_ETOOMANY = 70010
VOICED_RMS = 500  # 16-bit PCM RMS above which a 20 ms frame counts as speech


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for a moment: ``--json`` output must stay clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class SipError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SipConfig:
    caller_id: str = "sip:robot@127.0.0.1"
    sip_port: int = 0
    rtp_port: int = 20000
    registrar: str = ""
    sip_user: str = ""
    sip_password: str = ""
    clock_rate: int = 16000
    max_calls: int = 4


def _rms(pcm: bytes) -> float:
    samples = array.array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    return float((sum(s * s for s in samples[::4]) / len(samples[::4])) ** 0.5)


class _LogToLogging(pj.LogWriter):  # type: ignore[misc]
    """pjlib's log lines into Python logging (logger ``pjsua2``): masked like every other line
    instead of written raw to the console. With ``mainThreadOnly`` pjsua2 queues the lines of
    its other threads for the thread that polls, so this runs on that thread only."""

    def write(self, entry: Any) -> None:
        level = _PJ_LEVELS.get(entry.level, logging.DEBUG)
        pj_log.log(level, "%s", str(entry.msg).rstrip())


_PJ_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}
pj_log = logging.getLogger("pjsua2")


class _Listener(pj.AudioMediaPort):  # type: ignore[misc]
    """Receives the callee's audio (media thread): queues PCM when asked, tracks voice."""

    def __init__(self, call: CallHandle) -> None:
        super().__init__()
        self.call = call

    def onFrameReceived(self, frame: Any) -> None:
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or not frame.size:
            return
        pcm = bytes(frame.buf)
        self.call.note_audio(pcm, _rms(pcm) >= VOICED_RMS)


class _Player(pj.AudioMediaPlayer):  # type: ignore[misc]
    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self.done = done

    def onEof2(self) -> None:
        self.done.set()


@dataclass
class CallHandle:
    """What the polling thread learns about one call; read by the call's own thread."""

    uri: str
    confirmed: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    media_ready: threading.Event = field(default_factory=threading.Event)
    codes: list[int] = field(default_factory=list)
    last_code: int = 0
    reason: str = ""
    answered_at: float = 0.0
    digits: queue.Queue[str] = field(default_factory=queue.Queue)
    audio: queue.Queue[bytes] = field(default_factory=queue.Queue)
    capture: bool = False
    voiced_since: float = 0.0  # start of the current stretch of callee speech (0 = silent)
    last_voice: float = 0.0
    xfer_code: int = 0
    xfer_done: threading.Event = field(default_factory=threading.Event)
    pj_call: Any = None
    listener: Any = None
    player: Any = None

    def note_audio(self, pcm: bytes, voiced: bool) -> None:
        now = time.monotonic()
        if voiced:
            if not self.voiced_since or now - self.last_voice > 0.4:
                self.voiced_since = now
            self.last_voice = now
        if self.capture:
            self.audio.put(pcm)

    def speaking_for(self) -> float:
        """Seconds of continuous callee speech up to now (short pauses bridged)."""
        now = time.monotonic()
        if not self.voiced_since or now - self.last_voice > 0.4:
            return 0.0
        return now - self.voiced_since


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, engine: SipEngine, account: Any, handle: CallHandle) -> None:
        super().__init__(account)
        self.engine, self.handle = engine, handle

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        h = self.handle
        if ci.lastStatusCode and (not h.codes or h.codes[-1] != ci.lastStatusCode):
            h.codes.append(int(ci.lastStatusCode))
        h.last_code, h.reason = int(ci.lastStatusCode), str(ci.lastReason)
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not h.confirmed.is_set():
            h.answered_at = time.monotonic()
            h.confirmed.set()
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            h.disconnected.set()
            h.media_ready.set()  # wake waiters

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.engine.attach_listener(self, self.handle)
                self.handle.media_ready.set()

    def onDtmfDigit(self, prm: Any) -> None:
        self.handle.digits.put(str(prm.digit))

    def onCallTransferStatus(self, prm: Any) -> None:
        self.handle.xfer_code = int(prm.statusCode)
        if prm.finalNotify or prm.statusCode >= 200:
            self.handle.xfer_done.set()


class SipEngine:
    """The process's SIP user agent. Call ``poll`` in a loop on the thread that created it."""

    def __init__(self, cfg: SipConfig) -> None:
        self.cfg = cfg
        self._commands: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._calls: dict[int, _Call] = {}
        self.ep = pj.Endpoint()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.uaConfig.maxCalls = cfg.max_calls
        ep_cfg.logConfig.level = 1
        ep_cfg.logConfig.consoleLevel = 1
        self._log_writer = _LogToLogging()  # kept: pjsua2 holds a pointer past libDestroy
        ep_cfg.logConfig.writer = self._log_writer
        ep_cfg.medConfig.clockRate = cfg.clock_rate
        ep_cfg.medConfig.sndClockRate = cfg.clock_rate
        with _stdout_to_stderr():  # pjlib logs its start on stdout, before the log config
            self.ep.libCreate()
            self.ep.libInit(ep_cfg)
        self.ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = cfg.sip_port
        tcfg.boundAddress = "127.0.0.1" if "127.0.0.1" in cfg.caller_id else ""
        self.transport_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.ep.libStart()
        for codec in self.ep.codecEnum2():
            keep = codec.codecId.startswith(("PCMU/", "PCMA/"))
            self.ep.codecSetPriority(
                codec.codecId, 255 if codec.codecId.startswith("PCMU/") else (254 if keep else 0)
            )
        self.account = pj.Account()
        self.account.create(self._account_config())
        self._thread = threading.get_ident()

    @property
    def port(self) -> int:
        return int(self.ep.transportGetInfo(self.transport_id).localName.split(":")[-1])

    def _account_config(self) -> Any:
        acfg = pj.AccountConfig()
        acfg.idUri = self.cfg.caller_id
        acfg.mediaConfig.lockCodecEnabled = False
        acfg.mediaConfig.transportConfig.port = self.cfg.rtp_port
        acfg.mediaConfig.transportConfig.portRange = 2000
        if self.cfg.registrar:
            acfg.regConfig.registrarUri = self.cfg.registrar
        if self.cfg.sip_user:
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", self.cfg.sip_user, 0, self.cfg.sip_password)
            )
        return acfg

    # --- the polling thread -------------------------------------------------------------

    def poll(self, ms: int = 10) -> None:
        self.ep.libHandleEvents(ms)
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # handed to the waiting thread
                    fut.set_exception(exc)

    def submit(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the polling thread and return its result (or raise its error)."""
        if threading.get_ident() == self._thread:
            return fn()
        fut: Future[T] = Future()
        self._commands.put((fn, fut))
        return fut.result(timeout)

    def register_thread(self, name: str) -> None:
        """Threads whose garbage may hold pjsua2 objects must be known to pjsip."""
        if not self.ep.libIsThreadRegistered():
            self.ep.libRegisterThread(name)

    def attach_listener(self, call: _Call, handle: CallHandle) -> None:
        if handle.listener is not None:
            return
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, self.cfg.clock_rate, 1, 20000, 16)
        port = _Listener(handle)
        port.createPort(f"rx{call.getId()}", fmt)
        call.getAudioMedia(-1).startTransmit(port)
        handle.listener = port

    def _make_call(self, handle: CallHandle) -> CallHandle:
        call = _Call(self, self.account, handle)
        prm = pj.CallOpParam(True)
        try:
            call.makeCall(handle.uri, prm)
        except pj.Error as exc:
            raise SipError(mask_text(str(exc.info())), int(exc.status)) from None
        handle.pj_call = call
        self._calls[call.getId()] = call
        return handle

    def dial(self, uri: str, give_up: float = 10.0) -> CallHandle:
        """Place a call (any thread); waits for a free slot on PJ_ETOOMANY."""
        deadline = time.monotonic() + give_up
        while True:
            try:
                return self.submit(lambda: self._make_call(CallHandle(uri)))
            except SipError as exc:
                if exc.status != PJ_ETOOMANY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # --- per-call operations (any thread) ---------------------------------------------------

    def play(self, handle: CallHandle, wav: str, done: threading.Event) -> None:
        def start() -> None:
            self._stop_player(handle)
            player = _Player(done)
            player.createPlayer(wav, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(handle.pj_call.getAudioMedia(-1))
            handle.player = player

        self.submit(start)

    def stop_playing(self, handle: CallHandle) -> None:
        self.submit(lambda: self._stop_player(handle))

    def _stop_player(self, handle: CallHandle) -> None:
        player, handle.player = handle.player, None
        if player is not None and not handle.disconnected.is_set():
            with contextlib.suppress(pj.Error):
                player.stopTransmit(handle.pj_call.getAudioMedia(-1))
        del player

    def hangup(self, handle: CallHandle, code: int = 0) -> None:
        def end() -> None:
            if handle.pj_call is not None and not handle.disconnected.is_set():
                prm = pj.CallOpParam(True)
                prm.statusCode = code or pj.PJSIP_SC_DECLINE
                with contextlib.suppress(pj.Error):
                    handle.pj_call.hangup(prm)

        self.submit(end)

    def transfer(self, handle: CallHandle, target: str) -> None:
        self.submit(lambda: handle.pj_call.xfer(target, pj.CallOpParam(True)))

    def release(self, handle: CallHandle) -> None:
        """Drop pjsua2 objects of a finished call on the polling thread."""

        def drop() -> None:
            self._stop_player(handle)
            call = handle.pj_call
            if call is not None:
                self._calls.pop(call.getId(), None)
            handle.pj_call = handle.listener = None

        self.submit(drop)

    def active_calls(self) -> int:
        return len(self._calls)

    def hangup_all(self) -> None:
        for call in list(self._calls.values()):
            self.hangup(call.handle)

    def shutdown(self) -> None:
        """Hang up, let BYEs go out, drop every call and the account, then destroy the library."""
        self.hangup_all()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(
            not c.handle.disconnected.is_set() for c in self._calls.values()
        ):
            self.poll(20)
        while self._calls:  # no name may keep a Call alive past libDestroy (that aborts)
            call = self._calls.popitem()[1]
            call.handle.pj_call = call.handle.listener = call.handle.player = None
            del call
        self.account.shutdown()
        del self.account
        self.ep.libDestroy()
