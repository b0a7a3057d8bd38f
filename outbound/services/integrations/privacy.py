"""Shopify's mandatory privacy topics: ``customers/redact``, ``shop/redact``,
``customers/data_request`` — erasure and an evidence export, each audited.

An erasure needs ``[privacy] erasure_key`` (the keyed hash an erased number stays suppressed
by); without it the delivery fails with a ``ConfigError`` (answered 503), so Shopify retries
after the operator sets it instead of the request being lost.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from outbound.domain.errors import ConfigError, NotFoundError
from outbound.services.integrations.model import DataRequest, Redact
from outbound.services.people import erasure
from outbound.services.views import evidence
from outbound.services.views.console import record_export
from outbound.store import audit, shop
from outbound.store import sources as source_rows

if TYPE_CHECKING:
    from outbound.services.integrations.intake import ShopContext

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _key(ctx: ShopContext) -> bytes:
    if ctx.erasure_key is None:
        raise ConfigError(
            "a shop asked for an erasure, but [privacy] erasure_key is not set; set "
            "OUTBOUND_PRIVACY_ERASURE_KEY and the platform's retry will be applied"
        )
    return ctx.erasure_key


def _forget(
    conn: Connection, ctx: ShopContext, ref: str, why: str, actor: str, now: datetime
) -> bool:
    try:
        erasure.forget(
            conn, ref, key=_key(ctx), reason=why, actor=actor, now=now, prompts_dir=ctx.prompts_dir
        )
    except NotFoundError:
        return False
    return True


def redact(
    conn: Connection,
    ctx: ShopContext,
    source: source_rows.Source,
    action: Redact,
    actor: str,
    now: datetime,
) -> str:
    """Erase one customer (and its order map rows), or every customer and row of the shop."""
    why = f"{source.kind} {'customers/redact' if action.customer else 'shop/redact'}"
    if action.customer is not None:
        erased = _forget(conn, ctx, action.customer, why, actor, now)
        orders = shop.forget_orders(conn, source.id, action.customer)
        data = {
            "customer_erased": erased,
            "shop_orders": orders,
            "orders_to_redact": len(action.orders),
        }
        subject = f"source:{source.name}"
        audit.append(
            conn, [audit.Event(actor, "integration.customer_redacted", subject, data)], now
        )
        return f"customer {'erased' if erased else 'not held'}; {orders} order rows dropped"
    refs = shop.shop_customer_refs(conn, source.name)
    forgotten = sum(_forget(conn, ctx, r, why, actor, now) for r in refs)
    counts = {"customers": forgotten, **shop.erase_shop(conn, source.id)}
    audit.append(
        conn,
        [audit.Event(actor, "integration.shop_redacted", f"source:{source.name}", counts)],
        now,
    )
    return f"shop data erased: {counts}"


def data_request(
    conn: Connection,
    ctx: ShopContext,
    source: source_rows.Source,
    action: DataRequest,
    actor: str,
    now: datetime,
) -> str:
    """Write the customer's evidence bundle (JSONL and its manifest) to ``exports_dir``; audited
    as ``integration.data_request`` with the file's sha256. A customer we do not hold gets an
    audited "nothing held" and no file."""
    subject = f"source:{source.name}"
    try:
        erasure.resolve(conn, action.customer, ctx.erasure_key)
    except NotFoundError:
        data = {"customer": action.customer, "request": action.request_id, "held": False}
        audit.append(conn, [audit.Event(actor, "integration.data_request", subject, data)], now)
        return "data request: nothing held"
    folder = Path(ctx.exports_dir or "exports")
    folder.mkdir(parents=True, exist_ok=True)
    request = action.request_id or now.strftime("%Y%m%dT%H%M%S")
    name = _UNSAFE.sub("_", f"{source.name}-data-request-{request}")
    path = folder / f"{name}.jsonl"
    sel = evidence.Selection(customer=action.customer)
    meta = evidence.export_file(conn, sel, "jsonl", path, now=now, key=ctx.erasure_key)
    record_export(conn, actor, subject, meta, now, action="integration.data_request")
    return f"data request exported to {path.name} ({meta['rows']} rows)"
