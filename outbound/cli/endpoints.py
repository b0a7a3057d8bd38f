"""``outbound endpoint …``: the shop's receivers of status webhooks (notification.sent, …)."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from outbound.cli.context import JSON_OPTION, Ctx, now, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.services.endpoints import manage
from outbound.services.endpoints.events import EVENT_TYPES


@click.group("endpoint")
def endpoint() -> None:
    """Where outbound pushes status events (Standard Webhooks, signed with a whsec_ secret).

    \b
    Example:
      outbound endpoint add desk --url https://shop.example/hooks/outbound \\
          --events notification.delivered,notification.failed,customer.opted_out
      outbound endpoint list
    """


@endpoint.command("add")
@click.argument("name")
@click.option(
    "--url", required=True, help="The receiver's http(s) URL (redirects are not followed)."
)
@click.option(
    "--events",
    default=",".join(EVENT_TYPES),
    show_default=True,
    help="Comma-separated event types to receive.",
)
@click.option(
    "--include-phone",
    is_flag=True,
    help="Send customers' phone numbers unmasked (default: masked).",
)
@pass_ctx
def add(ctx: Ctx, name: str, url: str, events: str, include_phone: bool) -> None:
    """Register an endpoint and print its signing secret ONCE (it is never logged).

    \b
    Example:
      outbound endpoint add desk --url https://shop.example/hooks --events notification.sent
    """
    wanted = [e.strip() for e in events.split(",") if e.strip()]
    with ctx.app().engine.begin() as conn:
        secret = manage.add(
            conn, name, url, wanted, include_phone=include_phone, now=now(), actor="cli"
        )
    click.echo(f"endpoint {name!r} created. Its signing secret (shown once, store it now):")
    click.echo(secret)


@endpoint.command("list")
@JSON_OPTION
@pass_ctx
def list_(ctx: Ctx, as_json: bool) -> None:
    """Endpoints with status, failed attempts in a row and queue depth (never the secrets).

    \b
    Example:
      outbound endpoint list --json
    """
    with ctx.app().engine.begin() as conn:
        data = manage.listing(conn)
    if as_json:
        emit_json(data)
        return
    rows = [
        [
            d["name"],
            d["url"],
            d["status"] + (f" ({d['disabled_reason']})" if d["disabled_reason"] else ""),
            d["queued"],
            d["failure_run"],
            ",".join(d["events"]),
        ]
        for d in data
    ]
    click.echo(table(["name", "url", "status", "queued", "failures in a row", "events"], rows))


def _toggle(ctx: Ctx, name: str, enabled: bool) -> None:
    with ctx.app().engine.begin() as conn:
        manage.set_enabled(conn, name, enabled, now=now(), actor="cli")
    click.echo(f"endpoint {name!r} {'enabled' if enabled else 'disabled'}")


@endpoint.command("disable")
@click.argument("name")
@pass_ctx
def disable(ctx: Ctx, name: str) -> None:
    """Stop delivering to an endpoint (its queued messages wait; no new ones are written).

    \b
    Example:
      outbound endpoint disable desk
    """
    _toggle(ctx, name, False)


@endpoint.command("enable")
@click.argument("name")
@pass_ctx
def enable(ctx: Ctx, name: str) -> None:
    """Deliver to an endpoint again (also after it was disabled for failing).

    \b
    Example:
      outbound endpoint enable desk
    """
    _toggle(ctx, name, True)


@endpoint.command("rotate")
@click.argument("name")
@click.option(
    "--keep-old-hours",
    default=24.0,
    show_default=True,
    help="How long messages are also signed with the old secret.",
)
@pass_ctx
def rotate(ctx: Ctx, name: str, keep_old_hours: float) -> None:
    """Issue a new signing secret (shown once); the old one also signs for --keep-old-hours.

    \b
    Example:
      outbound endpoint rotate desk --keep-old-hours 1
    """
    with ctx.app().engine.begin() as conn:
        secret = manage.rotate(conn, name, timedelta(hours=keep_old_hours), now=now(), actor="cli")
    click.echo(f"new secret for {name!r} (shown once):\n{secret}")


@endpoint.command("remove")
@click.argument("name")
@pass_ctx
def remove(ctx: Ctx, name: str) -> None:
    """Delete an endpoint with its queued messages and delivery history.

    \b
    Example:
      outbound endpoint remove desk
    """
    with ctx.app().engine.begin() as conn:
        manage.remove(conn, name, now=now(), actor="cli")
    click.echo(f"endpoint {name!r} removed")


@endpoint.command("deliveries")
@click.argument("name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@JSON_OPTION
@pass_ctx
def deliveries(ctx: Ctx, name: str, limit: int, as_json: bool) -> None:
    """The endpoint's latest messages: attempts, last status code, next retry.

    \b
    Example:
      outbound endpoint deliveries desk --limit 20
    """
    with ctx.app().engine.begin() as conn:
        data = manage.deliveries(conn, name, limit)
    if as_json:
        emit_json(data)
        return
    rows = [
        [
            d["webhook_id"],
            d["event_type"],
            d["notification_id"] or "",
            d["status"],
            d["attempts"],
            d["status_code"] or d["error"] or "",
            d["next_attempt_at"] or "",
        ]
        for d in data
    ]
    heads = [
        "webhook-id",
        "event",
        "notification",
        "status",
        "attempts",
        "last answer",
        "next retry",
    ]
    click.echo(table(heads, rows))


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fix = "give an ISO time with its offset, e.g. 2026-12-06T04:00:00+00:00"
        raise ValidationError([FieldProblem("since", raw, fix)])
    return parsed


@endpoint.command("replay")
@click.argument("name")
@click.option("--since", help="Messages created at or after this ISO time (with offset).")
@click.option("--message", "webhook_id", help="One message by its webhook-id (msg_…).")
@click.option("--notification", "notification_id", type=int, help="A notification's messages.")
@pass_ctx
def replay(
    ctx: Ctx,
    name: str,
    since: str | None,
    webhook_id: str | None,
    notification_id: int | None,
) -> None:
    """Send messages again, with their original webhook-id (the receiver dedupes by it).

    \b
    Example:
      outbound endpoint replay desk --since 2026-12-06T00:00:00+00:00
      outbound endpoint replay desk --message msg_2Jd9…
    """
    if since is None and webhook_id is None and notification_id is None:
        fix = "choose messages with --since, --message or --notification"
        raise ValidationError([FieldProblem("since", "", fix)])
    with ctx.app().engine.begin() as conn:
        n = manage.replay(
            conn,
            name,
            now=now(),
            actor="cli",
            since=_since(since),
            notification_id=notification_id,
            webhook_id=webhook_id,
        )
    click.echo(f"{n} message(s) of {name!r} queued again")
