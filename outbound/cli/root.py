"""The ``outbound`` command line (click). Tables for people, ``--json`` for programs."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from outbound.cli.context import JSON_OPTION, NEGATIVE_ARGS, Ctx, RowIdType, fail, pass_ctx
from outbound.cli.lazy import LazyGroup
from outbound.domain.errors import (
    ConfigError,
    DatabaseUnavailable,
    NotFoundError,
    OutboundError,
    ValidationError,
)

# Command modules are imported when their command runs (outbound.cli.lazy): `outbound --help`
# and the everyday reads start without SQLAlchemy's, pydantic's or the voice stack's imports.


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", envvar="OUTBOUND_DATABASE_URL", help="Database URL (default sqlite:///outbound.db)."
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False),
    help="Directory with outbound.toml and policies.toml.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    envvar="OUTBOUND_LOG_FORMAT",
    help="Log lines: human (default) or json, one object per line ([log] format).",
)
@click.pass_context
def cli(
    ctx: click.Context, db: str | None, config_dir: str | None, verbose: int, log_format: str | None
) -> None:
    """Outbound notifications (shipping, renewal, price drop) by push, SMS or voice robot.

    \b
    Example:
      outbound init && outbound customer import customers.csv
      outbound send shipping --customer C1001 --data '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-01"}'
      outbound serve
    """
    from outbound.domain.masking import configure_logging

    if log_format:  # the [log] format setting and every child process see it too
        os.environ["OUTBOUND_LOG_FORMAT"] = log_format
    level = logging.WARNING - 10 * verbose
    configure_logging(max(level, logging.DEBUG))
    ctx.obj = Ctx(db, config_dir)


# --- setup ------------------------------------------------------------------------------


@cli.command()
@click.argument("kind")
@click.option("--customer", "ref", required=True, help="External id (or #internal id).")
@click.option("--data", required=True, help="Payload as a JSON object.")
@JSON_OPTION
@pass_ctx
def send(ctx: Ctx, kind: str, ref: str, data: str, as_json: bool) -> None:
    """Trigger one notification through the same path as the webhooks.

    \b
    Kinds and payloads:
      shipping    order_id, carrier, tracking_no, eta (YYYY-MM-DD)[, shipment_id]
      renewal     tier, expires_on (YYYY-MM-DD), renew_url
      price_drop  sku, title, old_price, new_price, currency, url
    \b
    Example:
      outbound send shipping --customer C1001 --data '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-01"}'
    """
    from outbound.cli.output import emit_json
    from outbound.schemas import numbers
    from outbound.services.send import notify

    app = ctx.app()
    parsed_kind = notify.parse_kind(kind)
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f'--data is not JSON ({exc.msg} at column {exc.colno}); expected an object like \'{{"order_id": "A1"}}\''
        ) from None
    oversized = numbers.scan(data, prefix="data")  # NaN, Infinity, 1e999: refused as the API does
    if oversized:
        raise ValidationError(oversized)
    with app.engine.begin() as conn:
        (result,) = notify.notify(
            conn,
            app.send_context(),
            kind=parsed_kind,
            customer_ref=ref,
            payload=payload,
            source="cli",
            actor="cli",
        )
    from outbound.domain.records import decision_words

    out = {
        "notification_id": result.notification_id,
        "created": result.created,
        "dedupe_key": result.dedupe_key,
        "decision": decision_words(result.decision) if result.decision else None,
    }
    if as_json:
        emit_json(out)
        return
    verb = "created" if result.created else "already exists (duplicate event, nothing new sent)"
    click.echo(f"notification {result.notification_id} {verb}")
    click.echo(f"explain it: outbound why {result.notification_id}")


@cli.command(context_settings=NEGATIVE_ARGS)
@click.argument(
    "notification_id",
    type=RowIdType("notification", "`outbound send` and the console show them"),
)
@JSON_OPTION
@pass_ctx
def why(ctx: Ctx, notification_id: int, as_json: bool) -> None:
    """Why was (or wasn't) this notification sent? The decision trace in plain words.

    \b
    Example:
      outbound why 42
    """
    from outbound.cli.output import emit_json
    from outbound.cli.reports import explain
    from outbound.services.views.history import notification_report

    with ctx.engine().begin() as conn:
        data = notification_report(conn, notification_id)
    emit_json(data) if as_json else click.echo(explain(data))


# --- audit ---------------------------------------------------------------------------------


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        fail(f"invalid input: {exc}")
    except NotFoundError as exc:
        fail(str(exc), 3)
    except ConfigError as exc:
        fail(str(exc), 4)
    except DatabaseUnavailable as exc:
        fail(str(exc), 5)
    except OutboundError as exc:
        fail(str(exc), 1)
