"""The voice robot channel: a delivery becomes one SIP call running the kind's flow.

SIP results map onto the one outcome model: 486/600 busy; 408/480/ring timeout no answer;
404/484 invalid number (``PermanentChannelError``); 5xx ``TransientChannelError`` (retried);
answered -> ``answered`` (or ``voicemail``) with intent, transcript, confidence, DTMF, duration
and SIP codes in the detail. In-call opt-outs and SMS-link requests are listed in the detail's
``actions``; ``outbound.services.people.calls`` applies them in the outcome's transaction. New calls
wait for the trunk's calls-per-second token (``pace``), shared by all dialer processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outbound.channels.base import Message
from outbound.channels.throttle import Throttle
from outbound.domain.errors import PermanentChannelError, TransientChannelError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Channel, Kind, Outcome, SendResult
from outbound.observability import metrics
from outbound.voice.asr import Recognizers
from outbound.voice.call import BUSY, INVALID, NO_ANSWER, CallLimits, CallReport, place_call
from outbound.voice.flow import Flow
from outbound.voice.sip import SipEngine, SipError
from outbound.voice.tts import Tts


def target_uri(to: str, trunk_uri: str) -> str:
    """A SIP URI as is; an E.164 number through the trunk template (``sip:{number}@host``)."""
    if to.startswith(("sip:", "sips:")):
        return to
    if not trunk_uri:
        raise PermanentChannelError(
            f"no [voice] trunk_uri configured to call {mask_phone(to)}; set e.g. "
            "trunk_uri = 'sip:{number}@sip.example.net'"
        )
    return trunk_uri.format(number=to)


def result_for(report: CallReport) -> SendResult:
    """Map what happened on the wire to a typed outcome (or raise the matching error); the
    call is counted in ``outbound_call_results`` by that outcome (``invalid``, ``failed``)."""
    try:
        result = _result_for(report)
    except PermanentChannelError:
        metrics.CALL_RESULTS.labels("invalid").inc()
        raise
    except TransientChannelError:
        metrics.CALL_RESULTS.labels("failed").inc()
        raise
    metrics.CALL_RESULTS.labels(str(result.outcome)).inc()
    return result


def _result_for(report: CallReport) -> SendResult:
    base: dict[str, Any] = {"sip_codes": report.codes, "sip_reason": report.reason}
    if report.run is not None:
        run = report.run
        detail = {**base, **run.detail(), "duration_s": run.seconds}
        return SendResult(Outcome.VOICEMAIL if run.voicemail else Outcome.ANSWERED, None, detail)
    code = report.last_code
    if report.ring_timeout or code in NO_ANSWER:
        return SendResult(Outcome.NO_ANSWER, None, {**base, "ring_timeout": report.ring_timeout})
    if code in BUSY:
        return SendResult(Outcome.BUSY, None, base)
    if code in INVALID:
        raise PermanentChannelError(f"SIP {code} {report.reason}: invalid number")
    raise TransientChannelError(f"SIP {code} {report.reason}: call failed, will retry")


class SipVoice:
    """ChannelPort for voice; ``send`` blocks for the call while the engine's thread polls."""

    channel = Channel.VOICE

    def __init__(
        self,
        engine: SipEngine,
        voice: Mapping[str, Any],
        flows: Mapping[Kind, Flow],
        tts: Tts,
        asr: Recognizers,
        limits: CallLimits,
        pace: Throttle | None = None,
    ) -> None:
        self.engine, self.voice, self.flows = engine, voice, flows
        self.tts, self.asr, self.limits = tts, asr, limits
        self.pace = pace  # the trunk's calls-per-second limit, shared by every dialer

    def send(self, message: Message) -> SendResult:
        uri = target_uri(message.to, str(self.voice["trunk_uri"]))
        values = {
            **message.payload,
            "brand": self.voice["brand"],
            "callback": self.voice["callback_number"],
            "agent_uri": self.voice["agent_uri"],
        }
        if self.pace is not None:
            self.pace.acquire()  # TransientChannelError (retried later) when the trunk is busy
        try:
            report = place_call(
                self.engine,
                uri,
                flow=self.flows[message.kind],
                locale=message.locale or "en-US",
                values=values,
                tts=self.tts.for_customer(message.customer_id, message.payload.values()),
                asr=self.asr,
                limits=self.limits,
            )
        except SipError as exc:
            raise TransientChannelError(f"call not placed: {exc}") from None
        result = result_for(report)
        return SendResult(result.outcome, message.idempotency_key, result.detail)

    def close(self) -> None:
        return None
