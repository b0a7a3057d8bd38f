"""``POST /v1/integrations/{shopify,woocommerce}/NAME``: a shop platform's own webhooks.

Checks before the queue, as for ``/v1/events``: size (413), the source by name and kind (404),
WooCommerce's unsigned ping on webhook creation (200, nothing written), the platform's HMAC
over the raw body (401: nothing written), rate (429), content type (415), JSON (422). Then the
delivery joins the group-commit writer: its receipt (source, the platform's delivery id) is
looked up first, so a retried delivery gets the stored answer (``duplicate: true``) and is never
applied twice; else its actions are applied and the receipt stored in the same transaction.
Every accepted delivery is answered 200 — an unknown topic too (recorded as ignored), because
a 4xx makes the platform retry and then disable the webhook.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from outbound.api.deps import ApiDeps
from outbound.api.gate import MAX_BODY, Gate, Refused, read_body
from outbound.api.ingest import ALONE, GroupCommit, Job
from outbound.api.intake import answer_again, detail
from outbound.domain.errors import ConfigError, ValidationError
from outbound.services.intake import receipts
from outbound.services.intake.sources import Source
from outbound.services.integrations import shopify, signatures, woocommerce
from outbound.services.integrations.intake import ShopContext, apply, ship_many
from outbound.services.integrations.model import Mapped, Shipped

log = logging.getLogger("outbound.api.integrations")
Platform = Literal["shopify", "woocommerce"]


@dataclass(frozen=True)
class Headers:
    """Where each platform puts its signature, topic and delivery id."""

    signature: str
    topic: str
    delivery: str


HEADERS: dict[str, Headers] = {
    "shopify": Headers("x-shopify-hmac-sha256", "x-shopify-topic", "x-shopify-webhook-id"),
    "woocommerce": Headers(
        "x-wc-webhook-signature", "x-wc-webhook-topic", "x-wc-webhook-delivery-id"
    ),
}
_MAPPERS = {"shopify": shopify.map_topic, "woocommerce": woocommerce.map_topic}
_PING = re.compile(rb"^webhook_id=[0-9]{1,20}$")


def install_integrations(api: FastAPI, app: ApiDeps, gate: Gate, writer: GroupCommit) -> None:
    ctx = ShopContext(
        send=app.send_context(),
        erasure_key=app.erasure_key(),
        prompts_dir=app.prompts_dir,
        exports_dir=app.exports_dir,
    )

    @api.post(
        "/v1/integrations/{platform}/{name}",
        responses={
            200: {"description": "Applied, ignored (unknown topic) or a retry answered again"},
            401: {"description": "Missing or bad signature: nothing written"},
            404: {"description": "No source of that kind and name"},
            413: {"description": "Body over 64 KiB"},
            415: {"description": "Content type is not application/json"},
            422: {"description": "A value our rules refuse"},
            429: {"description": "Per-source rate limit exceeded"},
            503: {"description": "Database unavailable, or [privacy] erasure_key not set"},
        },
    )
    async def post_integration(request: Request, platform: Platform, name: str) -> JSONResponse:
        """A Shopify or WooCommerce webhook, verified and applied as the platform documents."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise Refused(413, f"body over {MAX_BODY} bytes")
        body = await read_body(request)
        sources = gate.cached() or await run_in_threadpool(gate.sources)
        job = delivery_job(ctx, gate, platform, name, dict(request.headers), body, sources)
        if isinstance(job, JSONResponse):
            return job
        return await writer.run(job)


def find_source(sources: list[Source], platform: str, name: str) -> Source:
    for s in sources:
        if s.name == name and s.kind == platform:
            return s
    raise Refused(
        404,
        f"no {platform} source named {name[:64]!r}; add it with: outbound source add {name[:64]} "
        f"--kind {platform} --secret-stdin --currency EUR --shop-url https://shop.example",
    )


def delivery_job(
    ctx: ShopContext,
    gate: Gate,
    platform: str,
    name: str,
    headers: dict[str, str],
    body: bytes,
    sources: list[Source] | None,
) -> Job[JSONResponse] | JSONResponse:
    """Every check that needs no write; the delivery's writes as a job (or the ping's answer)."""
    source = find_source(sources or gate.sources(), platform, name)
    names = HEADERS[platform]
    signature = headers.get(names.signature)
    if platform == "woocommerce" and not signature and _PING.match(body.strip()):
        log.info("woocommerce source %r: webhook created (ping); nothing written", source.name)
        return JSONResponse({"ping": True, "source": source.name})
    if not signatures.verify(signature, body, source.secrets):
        raise Refused(
            401,
            f"{names.signature} is missing or is not the base64 HMAC-SHA256 of the body under "
            f"the {platform} source {source.name!r}'s secret; nothing was written",
        )
    gate.throttle(source)
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, f"content-type {kind or 'missing'!r} is not application/json")
    topic = headers.get(names.topic, "")[:100]
    digest = hashlib.sha256(body).hexdigest()
    delivery = headers.get(names.delivery, "")[:200] or f"sha256:{digest}"
    mapped = _mapped(platform, topic, source, body)
    one = Delivery(ctx, source, delivery, digest, mapped)
    shipping = len(mapped.actions) == 1 and isinstance(mapped.actions[0], Shipped)
    return Job(
        lambda conn: _apply(conn, ctx, source, delivery, digest, mapped),
        _twin(source.id, delivery, digest),
        _bulk_shipments if shipping else None,
        one,
    )


@dataclass(frozen=True)
class Delivery:
    """A checked delivery, as the bulk path reads it."""

    ctx: ShopContext
    source: Source
    delivery: str
    digest: str
    mapped: Mapped

    @property
    def key(self) -> tuple[int, str]:
        return self.source.id, self.delivery


def _bulk_shipments(conn: Connection, jobs: Sequence[Job[Any]]) -> list[Any]:
    """A run of queued fulfillments, answered as ``_apply`` would one after the other: one
    receipt lookup, one notify (``ship_many``), one receipt insert. A repeated delivery id
    inside the run, or one ``ship_many`` leaves alone, goes the one-delivery path (``ALONE``)."""
    todo: list[Delivery] = [job.item for job in jobs]
    seen = receipts.answered_many(conn, [(d.key, d.digest) for d in todo])
    out: list[Any] = [ALONE] * len(todo)
    fresh: dict[tuple[int, str], int] = {}
    for i, d in enumerate(todo):
        if d.key in seen:
            out[i] = answer_again(seen[d.key])
        elif d.key not in fresh:
            fresh[d.key] = i
    picked = list(fresh.values())
    ctx = todo[0].ctx
    answers = ship_many(conn, ctx, [(todo[i].source, todo[i].mapped) for i in picked])
    done: list[tuple[receipts.Key, str, receipts.Answer]] = []
    for i, answer in zip(picked, answers, strict=True):
        d = todo[i]
        if isinstance(answer, ValidationError):
            out[i] = Refused(422, detail(answer.problems) or str(answer))
        elif answer is not None:
            body = {"event_id": d.delivery, "source": d.source.name, **answer, "duplicate": False}
            done.append((d.key, d.digest, receipts.Answer(200, body)))
            out[i] = JSONResponse(body)
    receipts.record_many(conn, done, ctx.send.clock())
    return out


def _seen(conn: Connection, key: receipts.Key, digest: str) -> JSONResponse | None:
    """The first answer again when this delivery came before (401 for a reused id)."""
    try:
        seen = receipts.answered(conn, key, digest)
    except receipts.Reused as exc:
        raise Refused(401, str(exc)) from None
    return None if seen is None else JSONResponse(seen.body, status_code=seen.status_code)


def _twin(
    source_id: int, delivery: str, digest: str
) -> Callable[[Connection, IntegrityError], JSONResponse]:
    """After an IntegrityError: a concurrent retry committed first, so answer as it did."""

    def conflict(conn: Connection, exc: IntegrityError) -> JSONResponse:
        seen = _seen(conn, (source_id, delivery), digest)
        if seen is None:
            raise exc
        return seen

    return conflict


def _mapped(platform: str, topic: str, source: Source, body: bytes) -> Mapped:
    if b"\\u0000" in body:
        raise Refused(422, [{"loc": ["body"], "msg": "text may not contain NUL (\\u0000)"}])
    try:
        payload = json.loads(body)
    except ValueError:
        raise Refused(422, [{"loc": ["body"], "msg": "the body is not JSON"}]) from None
    try:
        return _MAPPERS[platform](topic, source.name, payload, source.shop_url or "")
    except (KeyError, TypeError, AttributeError) as exc:
        raise Refused(
            422, [{"loc": ["body"], "msg": f"{topic}: the payload lacks {exc!s:.80} it needs"}]
        ) from None


def _apply(
    conn: Connection,
    ctx: ShopContext,
    source: Source,
    delivery: str,
    digest: str,
    mapped: Mapped,
) -> JSONResponse:
    seen = _seen(conn, (source.id, delivery), digest)
    if seen is not None:
        return seen
    try:
        result = apply(conn, ctx, source, mapped)
    except ValidationError as exc:
        raise Refused(422, detail(exc.problems) or str(exc)) from None
    except ConfigError as exc:
        log.error("%s %s: %s", source.name, mapped.topic, exc)
        raise Refused(503, str(exc), {"Retry-After": "60"}) from None
    out = {"event_id": delivery, "source": source.name, **result, "duplicate": False}
    receipts.record(
        conn, (source.id, delivery), digest, receipts.Answer(200, out), ctx.send.clock()
    )
    return JSONResponse(out)
