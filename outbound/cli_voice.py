"""``outbound flow …`` and ``outbound call …``: lint and try voice flows, place a test call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from outbound.cli_context import JSON_OPTION, Ctx, fail, pass_ctx
from outbound.domain import Kind
from outbound.ui import emit_json
from outbound.voice.flow import FlowError, LintProblem, flows_dir, lint, load, load_kind
from outbound.voice.runner import Grammar, Heard, PlayEnd, run_flow

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


def call_values(settings_voice: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Template values a flow may use: the payload plus brand, callback and agent URI."""
    return {
        **payload,
        "brand": settings_voice["brand"],
        "callback": settings_voice["callback_number"],
        "agent_uri": settings_voice["agent_uri"],
    }


@click.group("flow")
def flow_group() -> None:
    """Voice robot flows (voice_flows/*.yaml): lint them, try them in the terminal.

    \b
    Example:
      outbound flow lint
      outbound flow try renewal --locale ko-KR
    """


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
    directory = flows_dir(str(ctx.settings().get("voice", "flows_dir")))
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
        click.echo(f"robot [{locale}]: {text}")
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
        click.echo(f"robot: <transfer to {target or '(no agent_uri configured)'}>")
        return bool(target)

    def hangup(self) -> None:
        click.echo("robot: <hangs up>")


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
    voice = ctx.settings().values["voice"]
    try:
        flow = load_kind(kind, flows_dir(str(voice["flows_dir"])))
        payload = json.loads(data) if data else SAMPLES[Kind(kind)]
    except FlowError as exc:
        fail(str(exc), 1)
    except json.JSONDecodeError as exc:
        fail(f"--data is not JSON: {exc}")
    result = run_flow(flow, TerminalSession(), locale, call_values(voice, payload))
    click.echo(json.dumps({"outcome": "answered", **result.detail()}, ensure_ascii=False))
