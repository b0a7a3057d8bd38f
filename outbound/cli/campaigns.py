"""``outbound campaign …``: create, list, show, pause, resume, run, preview, report."""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from outbound.cli.context import JSON_OPTION, Ctx, Progress, fail, now, pass_ctx, writable_file
from outbound.cli.output import emit_json, human, table
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import Kind
from outbound.scheduling.scheduler import validate_schedule
from outbound.schemas import numbers
from outbound.services.campaigns import preview as campaign_preview
from outbound.services.campaigns import runs as campaigns
from outbound.services.templates.render import MessageRenderer
from outbound.services.views.history import campaign_list, campaign_report


def _json_arg(name: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError([FieldProblem(name, raw, f"is not JSON ({exc.msg})")]) from None
    if not isinstance(value, dict):
        raise ValidationError([FieldProblem(name, raw, "must be a JSON object")])
    oversized = numbers.scan(raw, prefix=name)  # NaN, Infinity, 1e999: refused as send does
    if oversized:
        raise ValidationError(oversized)
    return value


@click.group()
def campaign() -> None:
    """Campaigns: a customer segment, a kind, a cron schedule in a time zone.

    \b
    Example:
      outbound campaign create renewals-14d --kind renewal --schedule "0 10 * * *" \\
          --timezone Europe/Berlin --segment '{"expires_within_days": 14}' \\
          --params '{"renew_url": "https://shop.example/renew?c={external_id}"}'
      outbound campaign preview renewals-14d
    """


@campaign.command("create")
@click.argument("name")
@click.option(
    "--kind", type=click.Choice([Kind.RENEWAL.value, Kind.PRICE_DROP.value]), required=True
)
@click.option("--schedule", required=True, help="5-field crontab, e.g. '0 10 * * 1-5'.")
@click.option("--timezone", "tz", required=True, help="IANA zone the schedule is read in.")
@click.option(
    "--segment", default="{}", help="JSON: expires_within_days, tiers, countries, wishlist_sku."
)
@click.option(
    "--params",
    default="{}",
    help="JSON: renew_url (renewal); title, old_price, new_price, currency, url (price_drop).",
)
@pass_ctx
def create(
    ctx: Ctx, name: str, kind: str, schedule: str, tz: str, segment: str, params: str
) -> None:
    """Create an active campaign.

    \b
    Example:
      outbound campaign create gold-renewals --kind renewal --schedule "30 9 * * *" \\
          --timezone America/New_York --segment '{"expires_within_days": 7, "tiers": ["gold"]}' \\
          --params '{"renew_url": "https://shop.example/renew?c={external_id}"}'
    """
    validate_schedule(schedule, tz)
    spec = campaigns.CampaignSpec(
        name, Kind(kind), schedule, tz, _json_arg("segment", segment), _json_arg("params", params)
    )
    with ctx.app().engine.begin() as conn:
        cid = campaigns.create(conn, spec, now=now(), actor="cli")
    click.echo(
        f"campaign {cid} {name!r} created; preview it: "
        f"outbound campaign preview {shlex.quote(name)}"
    )


def _rows(ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.app().engine.begin() as conn:
        return campaign_list(conn)


@campaign.command("list")
@JSON_OPTION
@pass_ctx
def list_(ctx: Ctx, as_json: bool) -> None:
    """List campaigns with their last firing.

    \b
    Example:
      outbound campaign list --json
    """
    data = _rows(ctx)
    if as_json:
        emit_json(data)
    else:
        click.echo(
            table(
                ["id", "name", "kind", "schedule", "timezone", "status", "last fire"],
                [list(d.values()) for d in data],
            )
        )


@campaign.command("show")
@click.argument("ref")
@JSON_OPTION
@pass_ctx
def show(ctx: Ctx, ref: str, as_json: bool) -> None:
    """A campaign's definition, its runs and what they created.

    \b
    Example:
      outbound campaign show renewals-14d
    """
    with ctx.app().engine.begin() as conn:
        data = campaign_report(conn, ref)
    if as_json:
        emit_json(data)
        return
    for key in (
        "id",
        "name",
        "kind",
        "schedule",
        "timezone",
        "status",
        "segment",
        "params",
        "notifications",
    ):
        click.echo(f"{key:>14}: {human(data[key])}")
    click.echo(
        table(
            ["fire time", "selected", "created", "finished", "error"],
            [list(r.values()) for r in data["runs"]],
            title="\nruns",
        )
    )


def _set(ctx: Ctx, ref: str, status: str) -> None:
    with ctx.app().engine.begin() as conn:
        campaigns.set_status(conn, ref, status, now=now(), actor="cli")
    click.echo(f"campaign {ref} {status}")


@campaign.command("pause")
@click.argument("ref")
@pass_ctx
def pause(ctx: Ctx, ref: str) -> None:
    """Stop firing (the scheduler drops it at its next reload).

    \b
    Example:
      outbound campaign pause renewals-14d
    """
    _set(ctx, ref, "paused")


@campaign.command("resume")
@click.argument("ref")
@pass_ctx
def resume(ctx: Ctx, ref: str) -> None:
    """Fire again on schedule.

    \b
    Example:
      outbound campaign resume renewals-14d
    """
    _set(ctx, ref, "active")


@campaign.command("run")
@click.argument("ref")
@JSON_OPTION
@pass_ctx
def run(ctx: Ctx, ref: str, as_json: bool) -> None:
    """Fire a campaign now (outside its schedule); workers send what it queues.

    \b
    Example:
      outbound campaign run renewals-14d
    """
    app = ctx.app()
    bar = Progress("customers fanned out", None, enabled=not as_json)
    try:
        report = campaigns.run(
            app.engine, ref, app.send_context(), actor="cli", progress=bar.update
        )
    finally:
        bar.close()
    data = {
        "campaign": report.campaign,
        "ran": report.ran,
        "selected": report.selected,
        "created": report.created,
        "duplicates": report.duplicates,
        "error": report.error,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(
            f"{report.campaign}: {report.selected} selected, {report.created} notifications queued, "
            f"{report.duplicates} already existed"
        )
    if report.error:
        fail(
            f"campaign {report.campaign} stopped part-way (recorded on its run): {report.error}", 1
        )


def _forecast_json(f: Any, stamp: datetime) -> dict[str, Any]:
    return {
        "channel": f.channel,
        "now": f.now,
        "deferred": [{"resumes": when, "count": n} for when, n in f.deferred],
        "units": f.units,
        "rate_per_second": f.rate,
        "now_done": f.now_done,
        "finish": f.finish,
        "text": f.describe(stamp),
    }


@campaign.command("preview")
@click.argument("ref")
@JSON_OPTION
@pass_ctx
def preview(ctx: Ctx, ref: str, as_json: bool) -> None:
    """Dry run: counts per channel, deferrals, suppression reasons and when the run would
    finish per channel at the configured throughputs ([sms] throughput_per_second, [push]
    forecast_per_second, [voice] calls_per_second). Writes nothing.

    \b
    Example:
      outbound campaign preview renewals-14d --json
    """
    from outbound.services.campaigns.forecast import forecast

    app, stamp = ctx.app(), now()
    with app.engine.begin() as conn:
        renderer = MessageRenderer(app.rules, app.messaging())
        result = campaign_preview.preview(
            conn, ref, rules=app.rules, now=stamp, expiry=app.expiry, renderer=renderer
        )
        conn.rollback()
    data = {
        "selected": result.selected,
        "already_queued": result.duplicates,
        "send_now": dict(result.send_now),
        "deferred": dict(result.deferred),
        "first_resume": result.first_resume,
        "suppressed": dict(result.suppressed),
        "sms_parts": dict(result.sms_parts),
        "sms_longest_chars": result.sms_longest,
    }
    finish = forecast(result.arrivals, result.send_now, result.waiting, app.throughputs(), stamp)
    data["forecast"] = [_forecast_json(f, stamp) for f in finish]
    if as_json:
        emit_json(data)
        return
    click.echo(
        f"{result.selected} customers in the segment, {result.duplicates} already have this notification"
    )
    rows: list[list[Any]] = [["send now", ch, n, ""] for ch, n in sorted(result.send_now.items())]
    rows += [
        ["deferred", ch, n, f"from {result.first_resume[ch]:%Y-%m-%d %H:%M} UTC"]
        for ch, n in sorted(result.deferred.items())
    ]
    rows += [["suppressed", "-", n, reason] for reason, n in result.suppressed.most_common()]
    rows += [
        ["sms size", "sms", n, f"{size} (longest {result.sms_longest} chars)"]
        for size, n in sorted(result.sms_parts.items())
    ]
    click.echo(table(["outcome", "channel", "count", "note"], rows))
    for line in finish:
        click.echo(f"forecast: {line.describe(stamp)}")


@campaign.command("report")
@click.argument("ref")
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=writable_file,
    help="Also write the funnel and the sends per local hour as one SVG file.",
)
@JSON_OPTION
@pass_ctx
def report(ctx: Ctx, ref: str, chart: Path | None, as_json: bool) -> None:
    """The funnel per channel (queued, sent, delivered/answered/opened, opted out), deferrals
    by reason with when they resume, and sends per hour in the customers' local time.

    \b
    Example:
      outbound campaign report renewals-14d
      outbound campaign report renewals-14d --chart report.svg --json
    """
    from outbound.services.campaigns.report import STAGES
    from outbound.services.views.history import campaign_funnel

    with ctx.app().engine.begin() as conn:
        data = campaign_funnel(conn, ref, now=now())
    if chart is not None:
        from outbound.services.views.charts import report_svg

        partial = chart.with_name(chart.name + ".partial")
        partial.write_text(report_svg(data), encoding="utf-8")
        partial.replace(chart)
    if as_json:
        emit_json({**data, "chart": str(chart) if chart else None})
        return
    _print_report(data, STAGES, chart)


def _print_report(data: dict[str, Any], stages: tuple[str, ...], chart: Path | None) -> None:
    camp = data["campaign"]
    click.echo(
        f"campaign {camp['name']!r} ({camp['kind']}, {camp['status']}): {data['selected']} "
        f"selected over its runs, {data['notifications']} notifications"
    )
    click.echo(
        table(
            ["channel", *stages],
            [[row["channel"], *(row[s] for s in stages)] for row in data["funnel"]],
            title="\nfunnel",
        )
    )
    click.echo(
        table(
            ["channel", "reason", "count", "resumes", "last"],
            [
                [d["channel"], d["reason"], d["count"], d["resumes"], d["last"]]
                for d in data["deferrals"]
            ],
            title="\ndeferred",
        )
    )
    click.echo(
        table(
            ["reason", "count"],
            list(data["suppressed"].items()),
            title="\nsuppressed",
        )
    )
    hours = data["sends_by_local_hour"]
    click.echo(
        table(
            ["channel", *(f"{h:02d}" for h in range(24))],
            [[ch, *counts] for ch, counts in hours.items()],
            title="\nsends per local hour",
        )
    )
    if chart is not None:
        click.echo(f"\nchart written to {chart}")
