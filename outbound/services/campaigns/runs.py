"""Campaigns: a segment of customers, a kind, a cron schedule in a time zone.

A run fans the segment out through the same ``notify`` path as webhooks. Each run is keyed
by (campaign, fire_time) in ``campaign_runs``, so a double fire does nothing, and every
notification has a dedupe key, so a run resumed after a crash does not send twice.
No scheduler import here: ``scheduling`` calls ``run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.domain.masking import mask_text
from outbound.domain.values import Kind, row_id
from outbound.schemas.campaigns import parse_campaign
from outbound.schemas.payloads import parse_payload
from outbound.services.send import notify
from outbound.store import audit
from outbound.store import campaigns as store
from outbound.store.db import is_fault

CHUNK = 1000


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    kind: Kind
    schedule: str
    timezone: str
    segment: Mapping[str, Any]
    params: Mapping[str, Any]


def validate_spec(spec: CampaignSpec) -> CampaignSpec:
    """The spec with its segment and params normalized, or ValidationError naming each field.

    Beyond its own schema, the payload a firing will send is validated exactly as ``send``
    validates one (``notify.prepare``), for a sample member with the longest external id:
    whatever a firing would refuse, creating the campaign refuses first.
    """
    segment, params = parse_campaign(spec.kind, spec.name, spec.timezone, spec.segment, spec.params)
    spec = replace(spec, segment=segment, params=params)
    campaign = SimpleNamespace(kind=spec.kind.value, params=params, segment=segment)
    try:
        parse_payload(spec.kind, payload_for(campaign, _SAMPLE_MEMBER))
    except ValidationError as exc:
        found = [
            FieldProblem(
                p.field.replace("data.", "params.", 1),
                p.value,
                f"{p.hint} (in what a firing sends)",
            )
            for p in exc.problems
        ] or [FieldProblem("params", dict(params), str(exc))]
        raise ValidationError(found, where=f"campaign {spec.name!r}") from None
    return spec


_SAMPLE_MEMBER = SimpleNamespace(
    external_id="C" * 128, membership_tier=None, membership_expires_on=date(2026, 1, 1)
)


def create(conn: Connection, spec: CampaignSpec, *, now: datetime, actor: str) -> int:
    spec = validate_spec(spec)
    cid = store.insert_campaign(
        conn,
        {
            "name": spec.name,
            "kind": spec.kind.value,
            "schedule": spec.schedule,
            "timezone": spec.timezone,
            "segment": dict(spec.segment),
            "params": dict(spec.params),
            "status": "active",
            "created_at": now,
        },
    )
    if cid is None:
        raise ValidationError([FieldProblem("name", spec.name, "is taken; pick another name")])
    audit.append(
        conn,
        [
            audit.Event(
                actor,
                "campaign.created",
                f"campaign#{cid}",
                {
                    "name": spec.name,
                    "kind": spec.kind.value,
                    "schedule": spec.schedule,
                    "timezone": spec.timezone,
                    "segment": dict(spec.segment),
                },
            )
        ],
        now,
    )
    return int(cid)


def get(conn: Connection, ref: str | int) -> Any:
    """A campaign by id (digits) or by name; a new name is never all digits, an old one is
    still found by name when no campaign has that id."""
    number = ref if isinstance(ref, int) else row_id(ref)
    row = store.campaign_by_id(conn, number) if number is not None else None
    if row is None and not isinstance(ref, int):
        row = store.campaign_by_name(conn, ref)
    if row is None:
        raise NotFoundError(f"campaign {ref!r} not found; see: outbound campaign list")
    return row


def set_status(conn: Connection, ref: str | int, status: str, *, now: datetime, actor: str) -> None:
    row = get(conn, ref)
    store.set_campaign_status(conn, int(row.id), status)
    audit.append(
        conn,
        [audit.Event(actor, f"campaign.{status}", f"campaign#{row.id}", {"name": row.name})],
        now,
    )


def segment_chunk(conn: Connection, campaign: Any, now: datetime, after: int) -> list[Any]:
    """The next ``CHUNK`` members of the campaign's segment after customer id ``after``."""
    expires = None
    if Kind(campaign.kind) is Kind.RENEWAL:
        today = now.astimezone(ZoneInfo(campaign.timezone)).date()
        expires = (today, today + timedelta(days=int(campaign.segment["expires_within_days"])))
    return store.segment_members(
        conn, campaign.segment, expires_between=expires, after=after, limit=CHUNK
    )


def _segment_chunks(conn: Connection, campaign: Any, now: datetime) -> Iterator[list[Any]]:
    last = 0
    while rows := segment_chunk(conn, campaign, now, last):
        yield rows
        last = rows[-1].id


def payload_for(campaign: Any, customer: Any) -> dict[str, Any]:
    params = dict(campaign.params)
    if Kind(campaign.kind) is Kind.RENEWAL:
        expires: date = customer.membership_expires_on
        return {
            "tier": customer.membership_tier or params.get("tier", "member"),
            "expires_on": expires.isoformat(),
            "renew_url": str(params["renew_url"]).replace("{external_id}", customer.external_id),
        }
    return {
        k: params[k] for k in ("title", "old_price", "new_price", "currency", "url") if k in params
    } | {"sku": campaign.segment["wishlist_sku"]}


def _source(campaign: Any) -> str:
    return f"campaign:{campaign.name}"


def _requests(campaign: Any, rows: list[Any], now: datetime, expiry: notify.Expiry) -> list[Any]:
    """What a run would enqueue for these rows (the preview's view of ``notify_all``)."""
    return [
        notify.prepare(
            Kind(campaign.kind),
            r.id,
            r.timezone,
            payload_for(campaign, r),
            now=now,
            expiry=expiry,
            source=_source(campaign),
            campaign_id=campaign.id,
        )
        for r in rows
    ]


@dataclass
class RunReport:
    campaign: str
    fire_time: datetime
    ran: bool
    selected: int = 0
    created: int = 0
    duplicates: int = 0
    error: str | None = None  # why the firing stopped part-way (recorded on the run)


def _start(conn: Connection, campaign: Any, fire_time: datetime, now: datetime, actor: str) -> Any:
    """The run's id, or None when this (campaign, fire_time) already ran."""
    run_id = store.start_run(conn, int(campaign.id), fire_time, now)
    if run_id is None:
        return None
    fired = {"fire_time": fire_time.isoformat(), "run": run_id}
    audit.append(
        conn, [audit.Event(actor, "campaign.fired", f"campaign#{campaign.id}", fired)], now
    )
    return run_id


def run(
    engine: Engine,
    ref: str | int,
    ctx: notify.SendContext,
    *,
    fire_time: datetime | None = None,
    actor: str = "scheduler",
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Fan out one firing (default: now, by ``ctx.clock``); a second call with the same
    fire_time is a no-op (ran=False). Every chunk counts from the same ``now``.

    A firing that fails part-way (e.g. a campaign stored before its params were checked) is
    finished with its error on the run (``report.error``); chunks before it stay queued.
    """
    now = ctx.clock()
    fire_time = fire_time or now
    with engine.begin() as conn:
        campaign = get(conn, ref)
        run_id = _start(conn, campaign, fire_time, now, actor)
    if run_id is None:
        return RunReport(campaign.name, fire_time, ran=False)
    report = RunReport(campaign.name, fire_time, ran=True)
    sending = {"source": _source(campaign), "actor": actor, "now": now, "progress": progress}
    try:
        _fan_out(engine, ctx, campaign, report, sending)
    except Exception as exc:  # whatever stops a firing ends up on its run, not in a traceback
        if is_fault(exc):
            raise  # the database itself is gone: nothing can be recorded on the run
        report.error = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
    with engine.begin() as conn:
        store.finish_run(
            conn,
            run_id,
            now=now,
            selected=report.selected,
            created=report.created,
            error=report.error,
        )
        if report.error:
            failed = {"run": run_id, "error": report.error}
            event = audit.Event(actor, "campaign.failed", f"campaign#{campaign.id}", failed)
            audit.append(conn, [event], now)
    return report


def _fan_out(
    engine: Engine,
    ctx: notify.SendContext,
    campaign: Any,
    report: RunReport,
    sending: dict[str, Any],
) -> None:
    progress = sending.pop("progress")
    last = 0
    while True:  # one transaction per chunk: progress is durable, a crash resumes by dedupe key
        with engine.begin() as conn:
            rows = segment_chunk(conn, campaign, sending["now"], last)
            if not rows:
                return
            done = notify.notify_all(
                conn,
                ctx,
                kind=Kind(campaign.kind),
                items=[
                    (notify.Recipient(r.id, r.timezone), payload_for(campaign, r)) for r in rows
                ],
                campaign_id=campaign.id,
                **sending,
            )
        last = rows[-1].id
        report.selected += len(rows)
        report.created += sum(1 for d in done if d.created)
        report.duplicates += sum(1 for d in done if not d.created)
        if progress:
            progress(len(rows))
