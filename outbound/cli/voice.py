"""``outbound flow …`` and ``outbound call …``: lint and try voice flows, place a test call."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from outbound.cli.context import JSON_OPTION, Ctx, fail, pass_ctx
from outbound.cli.output import clean, emit_json, table
from outbound.config import Settings
from outbound.domain.errors import PermanentChannelError, TransientChannelError, ValidationError
from outbound.domain.masking import mask_text
from outbound.domain.values import Kind
from outbound.schemas import numbers
from outbound.schemas.payloads import validate_payload
from outbound.voice.flow import Flow, FlowError, LintProblem, flows_dir, lint, load, load_kind
from outbound.voice.runner import Grammar, Heard, PlayEnd, run_flow

if TYPE_CHECKING:
    from outbound.voice.tts import Tts

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
SAMPLES: dict[Kind, dict[str, Any]] = {
    Kind.SHIPPING: {"order_id": "A1001", "carrier": "DHL", "tracking_no": "T9", "eta": "Friday"},
    Kind.RENEWAL: {"tier": "Gold", "expires_on": "2026-12-31", "renew_url": "https://x.test/r"},
    Kind.PRICE_DROP: {
        "title": "Espresso maker",
        "old_price": "199",
        "new_price": "149",
        "currency": "USD",
        "url": "https://x.test/p/1",
    },
}


def call_values(settings: Settings, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Template values a flow may use: the payload plus brand, callback and agent URI."""
    return {
        **payload,
        "brand": settings.brand.name,
        "callback": settings.voice.callback_number,
        "agent_uri": settings.voice.agent_uri,
    }


@click.group("flow")
def flow_group() -> None:
    """Voice robot flows (voice_flows/*.yaml): lint them, try them in the terminal.

    \b
    Example:
      outbound flow lint
      outbound flow try renewal --locale ko-KR
      outbound flow render
    """


@flow_group.command("render")
@JSON_OPTION
@pass_ctx
def flow_render(ctx: Ctx, as_json: bool) -> None:
    """Pre-render every flow x locale x engine into the TTS cache ([voice] tts_cache_dir).

    Prompts that use only configured values ({brand}, {callback}, {agent_uri}) are synthesised
    with the configured engine and with espeak-ng (the offline fallback), so no call waits for
    synthesis; prompts with per-call fields ({order_id} ...) are rendered by each call before
    it dials. `serve` warns when a flow's prompts are not cached.

    \b
    Example:
      outbound flow render
      OUTBOUND_VOICE_TTS_CACHE_DIR=/var/cache/outbound outbound flow render --json
    """
    from outbound.voice.prerender import render_flows

    settings = ctx.settings()
    report = render_flows(*prompt_sources(settings))
    row = {"rendered": report.rendered, "per_call": report.per_call}
    if as_json:
        emit_json(row)
    else:
        click.echo(
            f"{report.rendered} prompts in the cache; {report.per_call} with per-call fields "
            "are rendered by each call before dialing"
        )


def prompt_sources(settings: Settings) -> tuple[list[Flow], list[Tts], dict[str, Any]]:
    """Every flow, the configured TTS engine plus the espeak-ng fallback, configured values."""
    from outbound.voice.tts import Tts  # gTTS and miniaudio load only here

    v = settings.voice
    flows = [load_kind(k.value, flows_dir(v.flows_dir)) for k in Kind]
    engines = [Tts(v.tts_cache_dir, v.clock_rate, v.tts_engine)]
    if v.tts_engine != "espeak":
        engines.append(Tts(v.tts_cache_dir, v.clock_rate, "espeak"))
    return flows, engines, call_values(settings, {})


@flow_group.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@JSON_OPTION
@pass_ctx
def flow_lint(ctx: Ctx, paths: tuple[str, ...], as_json: bool) -> None:
    """Check flows: identification first, opt-out in the first prompt, no dead ends.

    Without PATHS, lints every flow in the configured [voice] flows_dir. Exits 1 on problems,
    each naming the file, the step and the field.

    \b
    Example:
      outbound flow lint
      outbound flow lint voice_flows/renewal.yaml
    """
    directory = flows_dir(ctx.settings().voice.flows_dir)
    files = [Path(p) for p in paths] or sorted(directory.glob("*.yaml"))
    problems: list[LintProblem] = []
    for path in files:
        try:
            problems.extend(lint(load(path)))
        except FlowError as exc:
            problems.extend(exc.problems)
    if as_json:
        emit_json({"files": [str(f) for f in files], "problems": [str(p) for p in problems]})
    else:
        for p in problems:
            click.echo(str(p))
        click.echo(f"{len(files)} flow(s), {len(problems)} problem(s)", err=True)
    if problems:
        raise SystemExit(1)


class TerminalSession:
    """A CallSession on the terminal: prompts are printed, answers typed (words or digits)."""

    speech = True

    def play(self, text: str, *, locale: str, barge_in: bool) -> PlayEnd:
        click.echo(f"robot [{locale}]: {clean(text)}")
        return PlayEnd.DONE

    def listen(self, grammar: Grammar, *, locale: str, timeout: float) -> Heard:
        keys = " ".join(f"{k}={v}" for k, v in sorted(grammar.keys.items()))
        try:
            typed = click.prompt(f"you ({keys}; Enter = silence)", default="", show_default=False)
        except click.exceptions.Abort:
            return Heard(hangup=True)
        typed = typed.strip()
        if typed.isdigit() or typed in ("*", "#"):
            return Heard(dtmf=typed)
        return Heard(text=typed, confidence=1.0 if typed else None)

    def transfer(self, target: str) -> bool:
        click.echo(f"robot: <transfer to {clean(target) or '(no agent_uri configured)'}>")
        return bool(target)

    def hangup(self) -> None:
        click.echo("robot: <hangs up>")


def _payload(kind: str, data: str | None) -> dict[str, Any]:
    """``--data`` checked as ``outbound send`` checks it (fields, bounds, NaN and 1e999), so a
    prompt is rendered from what a real call of that kind could carry; the sample otherwise."""
    if not data:
        return dict(SAMPLES[Kind(kind)])
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        fail(f"--data is not JSON ({exc.msg} at column {exc.colno}); expected an object")
    if not isinstance(raw, dict):
        fail('--data must be a JSON object, e.g. \'{"order_id": "A1", ...}\'')
    oversized = numbers.scan(data, prefix="data")
    if oversized:
        raise ValidationError(oversized)
    return validate_payload(Kind(kind), raw)


@flow_group.command("try")
@click.argument("kind", type=click.Choice([k.value for k in Kind]))
@click.option("--locale", default="en-US", show_default=True, help="e.g. en-US, zh-CN, ko-KR")
@click.option("--data", help="Payload as a JSON object (default: a sample for the kind).")
@pass_ctx
def flow_try(ctx: Ctx, kind: str, locale: str, data: str | None) -> None:
    """Talk to a flow in the terminal: it prints prompts, you type words or key digits.

    \b
    Example:
      outbound flow try shipping --locale zh-CN
      echo 9 | outbound flow try renewal
    """
    settings = ctx.settings()
    try:
        flow = load_kind(kind, flows_dir(settings.voice.flows_dir))
    except FlowError as exc:
        fail(str(exc), 1)
    payload = _payload(kind, data)
    result = run_flow(flow, TerminalSession(), locale, call_values(settings, payload))
    click.echo(json.dumps({"outcome": "answered", **result.detail()}, ensure_ascii=False))


@click.group("call")
def call_group() -> None:
    """Robot calls placed by hand, for operators checking a trunk, a flow or a phone.

    \b
    Example:
      outbound call test +821012345678 --flow shipping --locale ko-KR
      outbound call test sip:alice@127.0.0.1:5070 --flow renewal --json
    """


def _outcome_row(
    target: str, kind: str, locale: str, outcome: str, detail: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "target": mask_text(target),
        "flow": kind,
        "locale": locale,
        "outcome": outcome,
        **detail,
    }


@call_group.command("test")
@click.argument("target", metavar="NUMBER_OR_SIP_URI")
@click.option(
    "--flow", "kind", required=True, type=click.Choice([k.value for k in Kind]), help="Flow kind."
)
@click.option("--locale", default="en-US", show_default=True, help="e.g. en-US, zh-CN, ko-KR")
@click.option("--data", help="Payload as a JSON object (default: a sample for the kind).")
@JSON_OPTION
@pass_ctx
def call_test(
    ctx: Ctx, target: str, kind: str, locale: str, data: str | None, as_json: bool
) -> None:
    """Place one real robot call and print its outcome; nothing is written to the database.

    NUMBER_OR_SIP_URI is an E.164 number (dialed through [voice] trunk_uri) or a SIP URI
    (dialed as is). The call runs the flow like a delivery would — prompts, speech or key
    answers, transfer to [voice] agent_uri — and ends at [voice] max_call_seconds at the
    latest. The outcome (busy, no_answer, answered, voicemail; rejected or failed for SIP
    errors) is printed with the SIP codes, intent, transcript, confidence, keys and duration.
    Exits 0 when the call got an outcome, 1 when it was rejected or failed.

    \b
    Example:
      outbound call test +821012345678 --flow shipping --locale ko-KR
      outbound call test sip:+15551230000@127.0.0.1:5070 --flow price_drop --json
      OUTBOUND_VOICE_MAX_CALL_SECONDS=20 outbound call test +12125550123 --flow renewal
    """
    settings = ctx.settings()
    if not target.startswith(("sip:", "sips:")) and not E164.match(target):
        fail(f"{mask_text(target)} is neither an E.164 number (+821012345678) nor a SIP URI")
    payload = _payload(kind, data)
    try:
        outcome, detail = _place_test_call(settings, target, Kind(kind), locale, payload)
    except FlowError as exc:
        fail(str(exc), 1)
    except PermanentChannelError as exc:
        outcome, detail = "rejected", {"error": mask_text(str(exc))}
    except TransientChannelError as exc:
        outcome, detail = "failed", {"error": mask_text(str(exc))}
    row = _outcome_row(target, kind, locale, outcome, detail)
    if as_json:
        emit_json(row)
    else:
        shown = {k: v for k, v in row.items() if k != "actions" or v}
        click.echo(table(["field", "value"], [(k, _show(v)) for k, v in shown.items()]))
    if outcome in ("rejected", "failed"):
        raise SystemExit(1)


@call_group.command("register")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(1, 3600),
    default=15.0,
    show_default=True,
    help="Seconds to wait for the registrar's answers.",
)
@click.option(
    "--refreshes",
    type=click.IntRange(0, 100),
    default=0,
    show_default=True,
    help="Stay registered until the registration was refreshed this many times.",
)
@JSON_OPTION
@pass_ctx
def call_register(ctx: Ctx, wait_s: float, refreshes: int, as_json: bool) -> None:
    """Register with the trunk's [voice] sip_registrar as a dialer does, and print the result.

    Uses [voice] sip_user, sip_password (or sip_password_file), sip_realm, sip_transport,
    sip_outbound_proxy. Prints the state (registered or failed), the registrar's last code and
    reason and the lifetime it granted; the password is never shown. Exits 0 when registered,
    1 when the registrar refused or did not answer within --wait.

    \b
    Example:
      OUTBOUND_VOICE_SIP_REGISTRAR="sip:trunk.example.net;transport=tls" \\
      OUTBOUND_VOICE_SIP_TRANSPORT=tls outbound call register --json
      outbound call register --refreshes 1 --wait 400
    """
    settings = ctx.settings()
    if not settings.voice.sip_registrar:
        fail("[voice] sip_registrar is empty; set it (OUTBOUND_VOICE_SIP_REGISTRAR) to register")
    from outbound.bootstrap.voice import sip_config
    from outbound.voice.sip import SipEngine  # pjsua2 loads only here

    engine = SipEngine(sip_config(settings))
    try:
        reg = engine.registration
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and reg.state != "failed":
            if reg.state == "registered" and reg.registered > refreshes:
                break
            engine.poll(20)
        row = reg.as_dict()
    finally:
        engine.shutdown()
    if as_json:
        emit_json(row)
    else:
        click.echo(table(["field", "value"], [(k, _show(v)) for k, v in row.items()]))
    if row["state"] != "registered":
        raise SystemExit(1)


def _show(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value == "" else value


def _place_test_call(
    settings: Settings, target: str, kind: Kind, locale: str, payload: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """One call from this process: the main thread polls SIP, a call thread runs the flow."""
    from outbound.bootstrap.voice import build_channel, sip_config
    from outbound.channels.voice import result_for, target_uri  # pjsua2 and Vosk load only here
    from outbound.voice.call import place_call
    from outbound.voice.sip import SipEngine, SipError
    from outbound.voice.sip_setup import media_priority

    uri = target_uri(target, settings.voice.trunk_uri)
    media_priority(settings.voice.media_nice)  # before pjsua2 starts its threads
    engine = SipEngine(sip_config(settings))
    done: dict[str, Any] = {}
    try:
        channel = build_channel(settings, engine)
        flow = channel.flows[kind]
        if not channel.asr.has(flow.locale_for(locale)):
            click.echo(channel.asr.missing(flow.locale_for(locale)), err=True)

        def work() -> None:
            try:
                report = place_call(
                    engine,
                    uri,
                    flow=flow,
                    locale=locale,
                    values=call_values(settings, payload),
                    tts=channel.tts,
                    asr=channel.asr,
                    limits=channel.limits,
                )
                done["result"] = result_for(report)
            except SipError as exc:
                done["error"] = TransientChannelError(f"call not placed: {exc}")
            except (PermanentChannelError, TransientChannelError) as exc:
                done["error"] = exc

        worker = threading.Thread(target=work, name="call-test", daemon=True)
        worker.start()
        limits = channel.limits
        give_up = time.monotonic() + limits.ring_timeout + limits.max_seconds + 30
        while worker.is_alive() and time.monotonic() < give_up:
            engine.poll(10)
        if worker.is_alive():
            done["error"] = TransientChannelError("the call did not finish in time")
    finally:
        engine.shutdown()
    if "error" in done:
        raise done["error"]
    result = done["result"]
    return result.outcome.value, dict(result.detail)
