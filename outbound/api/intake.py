"""From a checked request to its writes: the writer's jobs for events and push receipts.

``event_job``/``receipt_job`` run every check that needs no write (signature, rate, schema,
permission) and raise ``Refused`` at once; what they return is a ``Job`` for the writer. Its
``apply`` is the one-event path (receipt lookup: replay or duplicate; ``events.handle``; the
receipt). Shipping and membership events queued together also carry ``bulk``: the writer
applies a run of them with one receipt lookup, one customer lookup, one enqueue and one
receipt insert, with the answers the one-event path would give; if the bulk fails, each is
applied alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from outbound.api import events
from outbound.api.deps import ApiDeps
from outbound.api.gate import Gate, Refused, problem
from outbound.api.ingest import ALONE, Job
from outbound.api.signing import bodyless
from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.schemas import numbers
from outbound.schemas.base import ROOT, loc_of, shown
from outbound.services.intake import receipts
from outbound.services.intake.sources import Source
from outbound.services.send.receipts import PushReceipt, apply_receipt
from outbound.services.views.history import notification_report


class Accepted(BaseModel):
    event_id: str
    source: str
    notification_ids: list[int] = []
    customer_id: int | None = None
    created: bool
    duplicate: bool = False


def _shown(value: Any) -> Any:
    """An input value as JSON can carry it back (raw bytes of a broken body are cut and quoted)."""
    if isinstance(value, bytes):
        return value[:200].decode("utf-8", "replace")
    return value


def parse(body: bytes) -> Any:
    if b"\\u0000" in body:  # PostgreSQL text cannot hold NUL: refuse it as a value error
        raise Refused(
            422, [{"loc": ["body"], "msg": "text may not contain NUL (\\u0000)", "input": None}]
        )
    oversized = numbers.scan(body)
    if oversized:
        raise Refused(422, detail(oversized))
    try:
        return events.EVENT.validate_json(body)
    except PydanticError as exc:
        raise Refused(422, detail(events.event_problems(exc))) from None


def detail(problems: list[FieldProblem]) -> list[dict[str, Any]]:
    """One entry per bad field: where (``["body", "data", "eta"]``), the hint, the shown value."""
    return [
        {
            "loc": ["body", *loc_of(p.field)] if p.field != ROOT else ["body"],
            "msg": p.hint,
            "input": _shown(p.value),
        }
        for p in problems
    ]


@dataclass(frozen=True)
class Checked:
    """An event that passed every check before the queue."""

    app: ApiDeps
    source: Source
    webhook_id: str
    digest: str
    event: Any

    @property
    def key(self) -> tuple[int, str]:
        return self.source.id, self.webhook_id


def event_job(
    app: ApiDeps,
    gate: Gate,
    headers: dict[str, str],
    body: bytes,
    sources: list[Source] | None = None,
) -> Job[JSONResponse]:
    """Signature, rate, schema and permission (refused at once), then the writes as a job."""
    source, webhook_id = gate.admit(headers, body, sources)
    event = parse(body)
    if event.type not in source.events:
        raise Refused(401, f"source {source.name!r} may not send {event.type!r}")
    checked = Checked(app, source, webhook_id, hashlib.sha256(body).hexdigest(), event)
    bulk = _bulk_events if isinstance(event, events.NOTIFYING) else None
    return Job(lambda conn: _apply_event(conn, checked), _as_twin(checked), bulk, checked)


def _apply_event(conn: Connection, c: Checked) -> JSONResponse:
    seen = replayed(conn, c)
    if seen is not None:
        return seen
    try:
        result = events.handle(conn, c.app, c.event, c.source.name)
    except ValidationError as exc:
        raise Refused(422, detail(exc.problems) or str(exc)) from None
    out = Accepted(event_id=c.webhook_id, source=c.source.name, **result).model_dump()
    receipts.record(conn, c.key, c.digest, receipts.Answer(202, out), c.app.clock())
    return JSONResponse(out, status_code=202)


def _bulk_events(conn: Connection, jobs: Sequence[Job[Any]]) -> list[Any]:
    """A run of queued shipping/membership events, answered as ``_apply_event`` would answer
    them one after the other. A repeated webhook-id inside the run is left to the one-event
    path (``ALONE``, applied after the run), which then finds its twin's receipt."""
    todo: list[Checked] = [job.item for job in jobs]
    seen = receipts.answered_many(conn, [(c.key, c.digest) for c in todo])
    out: list[Any] = [ALONE] * len(todo)
    fresh: dict[tuple[int, str], int] = {}
    for i, c in enumerate(todo):
        if c.key in seen:
            out[i] = answer_again(seen[c.key])
        elif c.key not in fresh:
            fresh[c.key] = i
    results = events.notify_many(
        conn, todo[0].app, [(todo[i].event, todo[i].source.name) for i in fresh.values()]
    )
    done = []
    for i, result in zip(fresh.values(), results, strict=True):
        c = todo[i]
        if isinstance(result, ValidationError):
            out[i] = Refused(422, detail(result.problems) or str(result))
            continue
        body = Accepted(event_id=c.webhook_id, source=c.source.name, **result).model_dump()
        done.append((c.key, c.digest, receipts.Answer(202, body)))
        out[i] = JSONResponse(body, status_code=202)
    receipts.record_many(conn, done, todo[0].app.clock())
    return out


def receipt_job(
    app: ApiDeps,
    gate: Gate,
    headers: dict[str, str],
    body: bytes,
    sources: list[Source] | None = None,
) -> Job[JSONResponse]:
    """``POST /v1/receipts``: the same checks and replay rules as events, the same writer."""
    source, webhook_id = gate.admit(headers, body, sources)
    if "push.receipt" not in source.events:
        raise Refused(401, f"source {source.name!r} may not send 'push.receipt'")
    oversized = numbers.scan(body)
    if oversized:
        raise Refused(422, detail(oversized))
    try:
        receipt = PushReceipt.model_validate_json(body)
    except PydanticError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise Refused(422, [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]) from None
    checked = Checked(app, source, webhook_id, hashlib.sha256(body).hexdigest(), receipt)
    return Job(lambda conn: _apply_receipt(conn, checked), _as_twin(checked))


def _apply_receipt(conn: Connection, c: Checked) -> JSONResponse:
    seen = replayed(conn, c)
    if seen is not None:
        return seen
    try:
        out = apply_receipt(conn, c.event, now=c.app.clock(), source=c.source.name)
    except ValidationError as exc:
        problems = [
            {"loc": ["body", p.field], "msg": p.hint, "input": shown(p.field, p.value)}
            for p in exc.problems
        ]
        raise Refused(422, problems) from None
    receipts.record(conn, c.key, c.digest, receipts.Answer(202, out), c.app.clock())
    return JSONResponse(out, status_code=202)


def replayed(conn: Connection, c: Checked) -> JSONResponse | None:
    """The receipt's answer again (a duplicate) when this delivery came before; None if new."""
    try:
        seen = receipts.answered(conn, c.key, c.digest)
    except receipts.Reused as exc:
        raise Refused(401, str(exc)) from None
    return None if seen is None else JSONResponse(seen.body, status_code=seen.status_code)


def answer_again(seen: receipts.Answer | receipts.Reused) -> JSONResponse | Refused:
    """A repeated delivery's answer (its receipt's, marked duplicate), or 401 for a reused id."""
    if isinstance(seen, receipts.Reused):
        return Refused(401, str(seen))
    return JSONResponse(seen.body, status_code=seen.status_code)


def _as_twin(c: Checked) -> Callable[[Connection, IntegrityError], JSONResponse]:
    """After an IntegrityError: a concurrent twin committed first, so answer as it did."""

    def conflict(conn: Connection, exc: IntegrityError) -> JSONResponse:
        seen = replayed(conn, c)
        if seen is None:
            raise exc
        return seen

    return conflict


SPENT = "webhook-id was already used (a signed read is single-use: sign each request anew)"


def read_job(
    app: ApiDeps,
    gate: Gate,
    headers: dict[str, str],
    target: bytes,
    nid: int,
    sources: list[Source] | None = None,
) -> Job[JSONResponse]:
    """``GET /v1/notifications/{id}``: signed over ``GET <target>`` (``signing.bodyless``),
    answered only to the source that created the notification (any other gets the 404 of an
    unknown id); the ``webhook-id`` is spent by the read, so the same headers never work twice.
    """
    signed = bodyless("GET", target)
    source, webhook_id = gate.identify(headers, signed, sources)
    digest = hashlib.sha256(signed).hexdigest()
    shown = {"read": target.decode("latin-1")}

    def apply(conn: Connection) -> JSONResponse:
        key = (source.id, webhook_id)
        if receipts.spent(conn, key):
            raise Refused(401, SPENT)
        answer = _report(conn, nid, source.name)
        receipts.record(conn, key, digest, receipts.Answer(answer.status_code, shown), app.clock())
        return answer

    def conflict(_conn: Connection, _exc: IntegrityError) -> JSONResponse:
        raise Refused(401, SPENT)  # a concurrent twin spent the id first

    return Job(apply, conflict)


def _report(conn: Connection, nid: int, source: str) -> JSONResponse:
    """The notification's report for its own source; the same 404 for unknown and not yours."""
    try:
        report = notification_report(conn, nid)
    except NotFoundError:
        report = None
    if report is None or report["source"] != events.actor_of(source):
        return problem(404, f"notification {nid} not found")
    return JSONResponse(json.loads(json.dumps(report, default=_iso)))


def _iso(value: Any) -> str:
    """Times and dates in ISO 8601 (``2026-12-01T12:29:04+00:00``), as the decisions give them."""
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)
