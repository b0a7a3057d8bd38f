"""``outbound templates``: lint, preview, list and reload the SMS and push templates."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import click

from outbound.cli.context import JSON_OPTION, Ctx, fail, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.domain.errors import ValidationError
from outbound.domain.values import Channel, Kind


@click.group("templates")
def templates_group() -> None:
    """SMS and push texts: templates/<kind>/<channel>.<locale>.j2 ([templates] dir).

    \b
    Example:
      outbound templates lint
      outbound templates preview price_drop --channel sms --locale fr-FR
      outbound templates reload
    """


@templates_group.command("lint")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@JSON_OPTION
@pass_ctx
def lint_command(ctx: Ctx, directory: str | None, as_json: bool) -> None:
    """Check every template: compiles, reads only its kind's fields, names the brand, keeps
    the SMS footer, fits [sms] max_parts for a realistic longest payload (GSM-7 or UCS-2
    shown per locale), and every configured locale finds a template. Exits 1 on a problem;
    each names file, line, field and fix.

    \b
    Example:
      outbound templates lint
      outbound templates lint ./templates --json
    """
    from outbound.services.templates.loader import load

    app = ctx.app(check_schema=False)
    chosen = None
    if directory:
        chosen = load(Path(directory), app.settings.templates.default_locale)
    report = app.lint_templates(chosen)
    where = (chosen or app.templates().current).directory
    if as_json:
        emit_json({"directory": str(where), **report.as_dict()})
    else:
        rows = [[s.file, s.locale, s.encoding, s.chars, s.parts] for s in report.sms]
        click.echo(
            table(
                ["sms template", "locale", "encoding", "chars", "parts"],
                rows,
                title=f"templates in {where}: SMS for a realistic longest payload",
            )
        )
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"{len(report.sms)} SMS templates measured; {verdict}")
    if not report.ok:
        raise SystemExit(1)


@templates_group.command("preview")
@click.argument("kind")
@click.option(
    "--channel",
    type=click.Choice(["sms", "push"]),
    default="sms",
    show_default=True,
    help="Which text.",
)
@click.option("--locale", default="en", show_default=True, help="The customer's locale.")
@click.option(
    "--country", help="The customer's country (ISO code): its jurisdiction decides the footer."
)
@click.option("--data", help="Payload as a JSON object (default: a sample payload of KIND).")
@JSON_OPTION
@pass_ctx
def preview_command(
    ctx: Ctx,
    kind: str,
    channel: str,
    locale: str,
    country: str | None,
    data: str | None,
    as_json: bool,
) -> None:
    """Render one message as a customer would get it: the text (a push's title too), the
    template file and locale used, and for SMS the encoding, characters and parts.

    \b
    Example:
      outbound templates preview price_drop --channel sms --locale fr-FR --data '{"sku":"K1","title":"Bouilloire","old_price":"119.90","new_price":"99.90","currency":"EUR","url":"https://shop.example/k"}'
      outbound templates preview renewal --channel push --locale ja-JP --json
    """
    parsed, payload = _payload(kind, data)
    app = ctx.app(check_schema=False)
    shown = app.renderer().preview(parsed, Channel(channel), locale, country, payload)
    out = {
        "kind": parsed.value,
        "channel": channel,
        "locale": locale,
        "template": shown.template,
        "template_locale": shown.locale,
        "fallback": shown.fallback,
        "title": shown.title,
        "text": shown.text,
        "encoding": shown.encoding,
        "chars": shown.chars,
        "units": shown.units,
        "parts": shown.parts,
    }
    if as_json:
        emit_json(out)
        return
    used = f"{shown.template} ({shown.fallback})" if shown.fallback else shown.template
    click.echo(f"template: {used}")
    if shown.title is not None:
        click.echo(f"title:    {shown.title}")
    click.echo(f"text:     {shown.text}")
    size = f"{shown.encoding}, {shown.chars} characters"
    if channel == "sms":
        size += f", {shown.units} units, {shown.parts} part{'s' if shown.parts > 1 else ''}"
    click.echo(f"size:     {size}")


def _payload(kind: str, data: str | None) -> tuple[Kind, dict[str, Any]]:
    """KIND and --data as a validated payload (a sample payload of KIND without --data)."""
    from outbound.schemas.payloads import validate_payload
    from outbound.services.send.notify import parse_kind
    from outbound.services.templates.fields import SAMPLE

    parsed = parse_kind(kind)
    if data is None:
        return parsed, validate_payload(parsed, SAMPLE[parsed.value])
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"--data is not JSON ({exc.msg} at column {exc.colno}); expected an object "
            'like \'{"title": "Kettle"}\''
        ) from None
    return parsed, validate_payload(parsed, raw)


@templates_group.command("list")
@JSON_OPTION
@pass_ctx
def list_command(ctx: Ctx, as_json: bool) -> None:
    """Every template file in use with its locale and SHA-256 (the hash each notification's
    audit event records).

    \b
    Example:
      outbound templates list --json
    """
    current = ctx.app(check_schema=False).templates().current
    rows = [
        {
            "file": f.rel,
            "kind": f.folder,
            "channel": f.channel.value,
            "locale": f.locale,
            "sha256": f.sha256,
        }
        for f in sorted(current.files.values(), key=lambda f: f.rel)
    ]
    if as_json:
        emit_json({"directory": str(current.directory), "templates": rows})
        return
    click.echo(
        table(
            ["file", "locale", "sha256"],
            [[r["file"], r["locale"], r["sha256"][:16]] for r in rows],
            title=f"templates in {current.directory}",
        )
    )


@templates_group.command("reload")
@click.option(
    "--pid",
    "pids",
    type=int,
    multiple=True,
    help="The `outbound serve` process to reload (default: this user's serve processes "
    "rendering the same templates directory).",
)
@pass_ctx
def reload_command(ctx: Ctx, pids: tuple[int, ...]) -> None:
    """Lint the templates, then have running `outbound serve` processes read them again
    (SIGHUP; the next batch renders with them, no restart). A template with a problem is
    refused here, and by serve, which keeps the set it has.

    \b
    Example:
      outbound templates reload
      outbound templates reload --pid 4242     # or: kill -HUP 4242
    """
    app = ctx.app(check_schema=False)
    report = app.lint_templates(app.templates().fresh())
    if not report.ok:
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        fail(f"{len(report.problems)} template problem(s); nothing reloaded", 1)
    directory = app.templates().directory
    targets = list(pids) or serve_processes(directory)
    if not targets:
        fail(f"no running `outbound serve` renders {directory}; pass --pid PID", 3)
    for pid in targets:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            fail(f"--pid {pid}: no such process", 3)
        except PermissionError:
            fail(f"--pid {pid}: not allowed to signal it (another user's process)", 3)
        click.echo(f"templates reloading in outbound serve (pid {pid})")


def _run_dir() -> Path:
    """Where running ``serve`` processes say which templates they render (per user)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"outbound-{os.getuid()}"


def announce(directory: Path) -> Path:
    """``serve``: note this process and its templates directory, so ``templates reload``
    finds it (and only it: a process that never announced may not handle SIGHUP)."""
    run = _run_dir()
    run.mkdir(mode=0o700, exist_ok=True)
    note = run / f"serve-{os.getpid()}.json"
    note.write_text(json.dumps({"pid": os.getpid(), "templates": str(directory.resolve())}))
    return note


def serve_processes(directory: Path) -> list[int]:
    """The running ``serve`` processes of this user that render ``directory``'s templates."""
    found: list[int] = []
    for note in sorted(_run_dir().glob("serve-*.json")):
        try:
            said = json.loads(note.read_text())
            pid = int(said["pid"])
            os.kill(pid, 0)
        except ProcessLookupError:
            note.unlink(missing_ok=True)  # left by a process that is gone
            continue
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if said.get("templates") == str(directory.resolve()):
            found.append(pid)
    return found
