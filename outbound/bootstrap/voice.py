"""The voice channel of ``[voice]``: the SIP endpoint's config, the per-call settings, the
answering-machine detector's parameters and the ``SipVoice`` channel (used by the dialer
process in ``outbound.mains.dialer`` and by ``outbound call``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

from outbound.channels.throttle import Throttle
from outbound.channels.voice import SipVoice
from outbound.config import Settings
from outbound.domain.errors import ConfigError
from outbound.domain.values import Kind, SendResult
from outbound.policy.model import Rules
from outbound.services.people.calls import apply_actions
from outbound.services.send.dispatch import AfterResult
from outbound.services.send.links import record_link
from outbound.store.outbox import Claimed
from outbound.store.throttle import DbTokenBucket
from outbound.voice.amd import AmdParams
from outbound.voice.asr import Recognizers
from outbound.voice.call import CallLimits
from outbound.voice.flow import flows_dir, load_kind
from outbound.voice.sip import SipEngine
from outbound.voice.sip_setup import Registration, SipConfig
from outbound.voice.tts import Tts

PACE_MAX_WAIT = 30.0  # a call waiting longer for the trunk's CPS token is retried later


def sip_config(settings: Settings) -> SipConfig:
    """The SIP endpoint of ``[voice]``; at most 4 calls per dialer (pjsua2's conference cap)."""
    v = settings.voice
    return SipConfig(
        caller_id=v.caller_id,
        bind_address=v.bind_address,
        public_address=v.public_address,
        sip_port=v.sip_port,
        rtp_port=v.rtp_port,
        sip_user=v.sip_user,
        sip_password=sip_password(settings),
        clock_rate=v.clock_rate,
        max_calls=min(v.calls_per_dialer, 4),
        registrar=v.sip_registrar,
        realm=v.sip_realm,
        register_seconds=v.sip_register_seconds,
        outbound_proxy=v.sip_outbound_proxy,
        transport=v.sip_transport,
        tls_ca_file=v.sip_tls_ca_file,
        srtp=v.srtp,
    )


def sip_password(settings: Settings) -> str:
    """``[voice] sip_password``, or the first line of ``sip_password_file``; errors name the
    setting, never the password."""
    v = settings.voice
    secret = v.sip_password.get_secret_value()
    if v.sip_password_file:
        if secret:
            raise ConfigError("[voice] sip_password and sip_password_file are both set; keep one")
        try:
            lines = Path(v.sip_password_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"[voice] sip_password_file {v.sip_password_file!r} cannot be read "
                f"({type(exc).__name__}); give a file holding the trunk password"
            ) from None
        secret = lines[0].strip() if lines else ""
        if not secret:
            raise ConfigError(f"[voice] sip_password_file {v.sip_password_file!r} is empty")
    if v.sip_registrar and not v.sip_user:
        raise ConfigError(
            "[voice] sip_registrar is set without sip_user; give the trunk's user name "
            "(OUTBOUND_VOICE_SIP_USER) and password"
        )
    if v.sip_transport == "tls" and v.sip_tls_ca_file and not Path(v.sip_tls_ca_file).is_file():
        raise ConfigError(
            f"[voice] sip_tls_ca_file {v.sip_tls_ca_file!r} does not exist; give the PEM CA "
            "bundle of the trunk's certificate, or leave it empty for the system's"
        )
    return secret


def registration_reporter(
    db: Engine, clock: Callable[[], datetime]
) -> Callable[[Registration], None]:
    """Records each change of the trunk registration (link ``sip registration <registrar>``),
    so ``/readyz`` answers 503 while it is failed."""

    def report(reg: Registration) -> None:
        detail = f"{reg.code} {reg.reason}".strip()
        record_link(db, f"sip registration {reg.registrar}", reg.state, detail, clock())

    return report


def call_settings(settings: Settings) -> dict[str, str]:
    """What ``SipVoice`` reads per call: the trunk, the one brand, callback number, agent."""
    v = settings.voice
    return {
        "trunk_uri": v.trunk_uri,
        "brand": settings.brand.name,
        "callback_number": v.callback_number,
        "agent_uri": v.agent_uri,
    }


def amd_params(settings: Settings) -> AmdParams | None:
    """``[voice] amd_*`` as the detector's parameters (None when ``amd = false``)."""
    v = settings.voice
    if not v.amd:
        return None
    return AmdParams(
        initial_silence_ms=v.amd_initial_silence_ms,
        greeting_ms=v.amd_greeting_ms,
        after_greeting_silence_ms=v.amd_after_greeting_silence_ms,
        total_analysis_ms=v.amd_total_analysis_ms,
        min_word_ms=v.amd_min_word_ms,
        between_words_silence_ms=v.amd_between_words_silence_ms,
        max_words=v.amd_max_words,
        max_word_ms=v.amd_max_word_ms,
        vad_mode=v.amd_vad_mode,
        beep_wait_ms=v.amd_beep_wait_ms,
        no_beep_silence_ms=v.amd_no_beep_silence_ms,
        min_beep_ms=v.amd_min_beep_ms,
    )


def build_channel(settings: Settings, engine: SipEngine, db: Engine | None = None) -> SipVoice:
    """The voice channel; with ``db``, new calls are paced by ``[voice] calls_per_second``
    through a token bucket row every dialer process shares."""
    v = settings.voice
    flows = {k: load_kind(k.value, flows_dir(v.flows_dir)) for k in Kind}
    limits = CallLimits(
        ring_timeout=v.ring_timeout_seconds,
        max_seconds=v.max_call_seconds,
        amd=amd_params(settings),
    )
    tts = Tts(v.tts_cache_dir, v.clock_rate, v.tts_engine)
    asr = Recognizers(v.asr_models())
    pace = None
    if db is not None:
        bucket = DbTokenBucket(db, f"voice:{v.trunk_uri or 'direct'}", v.calls_per_second)
        pace = Throttle(bucket, max_wait=PACE_MAX_WAIT)
    return SipVoice(engine, call_settings(settings), flows, tts, asr, limits, pace)


def call_actions(rules: Rules) -> AfterResult:
    """What a dialer does after each call, in the outcome's transaction: the in-call opt-out or
    the SMS-link follow-up the caller asked for."""

    def actions(conn: Connection, item: Claimed, result: SendResult, now: datetime) -> None:
        apply_actions(conn, item, result, rules=rules, now=now, actor="dialer")

    return actions
