"""SIP calls with pjsua2 — the only module that imports it.

One ``Endpoint`` per process (a second one aborts the process), null audio device, PCMU/PCMA
only, ``threadCnt=0`` + ``mainThreadOnly``: SIP and DTMF callbacks run on the thread that calls
``SipEngine.poll``. Other threads never call pjsua2 themselves: they ``submit`` a function that
the polling thread runs, and wait for its result. No Python runs per audio frame: pjmedia's
recorder writes the callee's audio to a file that the call's thread reads (``voice.tap``), and
player EOF only sets an event. At most 4 calls per process (the wheel's compile-time cap);
``makeCall`` is retried on PJ_ETOOMANY because a slot frees a little after DISCONNECTED.

SIP and RTP are bound to ``bind_address``; SDP and Contact advertise ``public_address`` (the
bound one when empty): media goes where it is told, never to the machine's default interface.

Trunks: REGISTER with digest auth, refreshed before expiry; UDP, TCP or TLS; outbound proxy;
SDES-SRTP. pjlib logs errors only: no SIP message (no Authorization header) is ever written.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pjsua2 as pj

from outbound.domain.masking import mask_text
from outbound.voice.call_handle import CallHandle
from outbound.voice.sip_setup import (
    RETRY_SECONDS,
    Registration,
    SipConfig,
    ca_file,
    rx_dir,
    stdout_to_stderr,
)
from outbound.voice.tap import AudioTap

log = logging.getLogger("outbound.voice.sip")


T = TypeVar("T")
PJ_ETOOMANY = 70010
#: Jitter buffer ceiling: a late conference clock or a bursty far end must not cost audio (the
#: robot needs every word; extra latency on its ear costs nothing). The discard algorithm is
#: not settable through this wheel's SWIG binding.
JB_MAX_MS = 2000


class SipError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


_TRANSPORTS = {
    "udp": pj.PJSIP_TRANSPORT_UDP,
    "tcp": pj.PJSIP_TRANSPORT_TCP,
    "tls": pj.PJSIP_TRANSPORT_TLS,
}
_SRTP = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}


class _LogToLogging(pj.LogWriter):  # type: ignore[misc]
    """pjlib's log lines into Python logging (logger ``pjsua2``): masked like every other line
    instead of written raw to the console. With ``mainThreadOnly`` pjsua2 queues the lines of
    its other threads for the thread that polls, so this runs on that thread only."""

    def write(self, entry: Any) -> None:
        level = _PJ_LEVELS.get(entry.level, logging.DEBUG)
        pj_log.log(level, "%s", str(entry.msg).rstrip())


_PJ_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}
pj_log = logging.getLogger("pjsua2")


class _Player(pj.AudioMediaPlayer):  # type: ignore[misc]
    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self.done = done

    def onEof2(self) -> None:
        self.done.set()


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, engine: SipEngine) -> None:
        super().__init__()
        self.engine = engine

    def onRegState(self, prm: Any) -> None:
        self.engine._registered(int(prm.code), str(prm.reason), int(prm.expiration))


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
        if ci.lastStatusCode in (180, 183) and not h.ringing_at:
            h.ringing_at = time.monotonic()
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
                self.engine.attach_recorder(self, self.handle)
                self.handle.media_ready.set()

    def onDtmfDigit(self, prm: Any) -> None:
        self.handle.digits.put(str(prm.digit))

    def onCallTransferStatus(self, prm: Any) -> None:
        self.handle.xfer_code = int(prm.statusCode)
        if prm.finalNotify or prm.statusCode >= 200:
            self.handle.xfer_done.set()


class SipEngine:
    """The process's SIP user agent. Call ``poll`` in a loop on the thread that created it."""

    def __init__(
        self, cfg: SipConfig, on_registration: Callable[[Registration], None] | None = None
    ) -> None:
        """``on_registration``: called (on the polling thread) when the registration's state
        changes, not on each refresh."""
        self.cfg = cfg
        self._on_registration = on_registration
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
        ep_cfg.medConfig.jbMax = JB_MAX_MS
        with stdout_to_stderr():  # pjlib logs its start on stdout, before the log config
            self.ep.libCreate()
            self.ep.libInit(ep_cfg)
        self.ep.audDevManager().setNullDev()
        self.transport_id = self.ep.transportCreate(_TRANSPORTS[cfg.transport], self._transport())
        self.ep.libStart()
        for codec in self.ep.codecEnum2():
            keep = codec.codecId.startswith(("PCMU/", "PCMA/"))
            self.ep.codecSetPriority(
                codec.codecId, 255 if codec.codecId.startswith("PCMU/") else (254 if keep else 0)
            )
        self.registration = Registration(cfg.registrar, "pending" if cfg.registrar else "off")
        self.account = _Account(self)
        self.account.create(self._account_config())
        self._thread = threading.get_ident()
        self._rx_dir = rx_dir()

    @property
    def port(self) -> int:
        return int(self.ep.transportGetInfo(self.transport_id).localName.split(":")[-1])

    def _account_config(self) -> Any:
        acfg = pj.AccountConfig()
        acfg.idUri = self.cfg.caller_id
        acfg.mediaConfig.lockCodecEnabled = False
        acfg.mediaConfig.transportConfig.port = self.cfg.rtp_port
        acfg.mediaConfig.transportConfig.portRange = 2000
        acfg.mediaConfig.transportConfig.boundAddress = self.cfg.bind_address
        acfg.mediaConfig.transportConfig.publicAddress = self.cfg.public_address
        acfg.mediaConfig.srtpUse = _SRTP[self.cfg.srtp]
        # SDES keys travel in the SDP: only over a TLS hop (pjsip refuses otherwise)
        acfg.mediaConfig.srtpSecureSignaling = 1 if self.cfg.transport == "tls" else 0
        acfg.sipConfig.transportId = self.transport_id
        if self.cfg.outbound_proxy:
            acfg.sipConfig.proxies.append(self.cfg.outbound_proxy)
        if self.cfg.registrar:
            acfg.regConfig.registrarUri = self.cfg.registrar
            acfg.regConfig.timeoutSec = self.cfg.register_seconds
            acfg.regConfig.retryIntervalSec = RETRY_SECONDS
            acfg.regConfig.delayBeforeRefreshSec = 10  # re-REGISTER this long before expiry
        if self.cfg.sip_user:
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo(
                    "digest", self.cfg.realm or "*", self.cfg.sip_user, 0, self.cfg.sip_password
                )
            )
        return acfg

    def _transport(self) -> Any:
        tcfg = pj.TransportConfig()
        tcfg.port = self.cfg.sip_port
        tcfg.boundAddress = self.cfg.bind_address
        tcfg.publicAddress = self.cfg.public_address
        if self.cfg.transport == "tls":
            tls = tcfg.tlsConfig
            tls.method = pj.PJSIP_TLSV1_2_METHOD
            tls.proto = pj.PJ_SSL_SOCK_PROTO_TLS1_2 | pj.PJ_SSL_SOCK_PROTO_TLS1_3
            tls.CaListFile = ca_file(self.cfg.tls_ca_file)
            tls.verifyServer = True
        return tcfg

    def _registered(self, code: int, reason: str, expires: int) -> None:
        """pjsip's registration callback (polling thread): one line per change, reported."""
        if self.registration.update(code, reason, expires) and self._on_registration:
            try:
                self._on_registration(self.registration)
            except Exception:  # a report must never break SIP polling
                log.exception("recording the SIP registration state failed")

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

    def record_clock(self, path: Path) -> None:
        """Record the null sound port (the bridge's clock) to ``path``; replaces the last one."""
        rec = pj.AudioMediaRecorder()
        rec.createRecorder(str(path))
        self.ep.audDevManager().getCaptureDevMedia().startTransmit(rec)
        self._clock_rec: Any = rec  # the previous one leaves the conference

    def register_thread(self, name: str) -> None:
        """Threads whose garbage may hold pjsua2 objects must be known to pjsip."""
        if not self.ep.libIsThreadRegistered():
            self.ep.libRegisterThread(name)

    def attach_recorder(self, call: _Call, handle: CallHandle) -> None:
        """pjmedia records the callee's audio (C, media thread); the call thread reads it."""
        if handle.recorder is not None:
            return
        path = self._rx_dir / f"rx{call.getId()}-{id(handle):x}.wav"
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        call.getAudioMedia(-1).startTransmit(recorder)
        handle.recorder = recorder
        handle.tap = AudioTap(path, self.cfg.clock_rate)

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
            handle.pj_call = handle.recorder = None
            if handle.tap is not None:
                handle.tap.remove()

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
            call.handle.pj_call = call.handle.recorder = call.handle.player = None
            del call
        self.account.shutdown()
        del self.account
        self._clock_rec = None  # no recorder may outlive libDestroy (aborts)
        self.ep.libDestroy()
        shutil.rmtree(self._rx_dir, ignore_errors=True)
