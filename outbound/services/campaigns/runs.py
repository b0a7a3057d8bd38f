"""Campaigns: a segment of customers, a kind, a cron schedule in a time zone.

A run fans the segment out through the same ``notify`` path as webhooks. Each run is keyed
by (campaign, fire_time) in ``campaign_runs``, so a double fire does nothing, and every
notification has a dedupe key, so a run resumed after a crash does not send twice.
No scheduler import here: ``scheduling`` calls ``run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Select, insert, select, update
from sqlalchemy.exc import IntegrityError

from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.domain.masking import mask_text
from outbound.domain.values import Kind, row_id
from outbound.policy.model import Rules
from outbound.schemas.campaigns import parse_campaign
from outbound.schemas.payloads import parse_payload
from outbound.services.send import notify
from outbound.store import audit
from outbound.store.db import is_fault
from outbound.store.tables import (
    campaign_runs,
    campaigns,
    customers,
    wishlist_items,
)

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
    try:
        with conn.begin_nested():
            cid = conn.execute(
                insert(campaigns)
                .values(
                    name=spec.name,
                    kind=spec.kind.value,
                    schedule=spec.schedule,
                    timezone=spec.timezone,
                    segment=dict(spec.segment),
                    params=dict(spec.params),
                    status="active",
                    created_at=now,
                )
                .returning(campaigns.c.id)
            ).scalar_one()
    except IntegrityError:
        raise ValidationError(
            [FieldProblem("name", spec.name, "is taken; pick another name")]
        ) from None
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
    row = None
    if number is not None:
        row = conn.execute(select(campaigns).where(campaigns.c.id == number)).first()
    if row is None and not isinstance(ref, int):
        row = conn.execute(select(campaigns).where(campaigns.c.name == ref)).first()
    if row is None:
        raise NotFoundError(f"campaign {ref!r} not found; see: outbound campaign list")
    return row


def set_status(conn: Connection, ref: str | int, status: str, *, now: datetime, actor: str) -> None:
    row = get(conn, ref)
    conn.execute(update(campaigns).where(campaigns.c.id == row.id).values(status=status))
    audit.append(
        conn,
        [audit.Event(actor, f"campaign.{status}", f"campaign#{row.id}", {"name": row.name})],
        now,
    )


def segment_query(campaign: Any, now: datetime) -> Select[Any]:
    seg = campaign.segment
    query = select(
        customers.c.id,
        customers.c.external_id,
        customers.c.locale,
        customers.c.country,
        customers.c.timezone,
        customers.c.membership_tier,
        customers.c.membership_expires_on,
    )
    if Kind(campaign.kind) is Kind.RENEWAL:
        today = now.astimezone(ZoneInfo(campaign.timezone)).date()
        until = today + timedelta(days=int(seg["expires_within_days"]))
        query = query.where(
            customers.c.membership_expires_on >= today, customers.c.membership_expires_on <= until
        )
    if seg.get("tiers"):
        query = query.where(customers.c.membership_tier.in_(list(seg["tiers"])))
    if seg.get("countries"):
        query = query.where(customers.c.country.in_([c.upper() for c in seg["countries"]]))
    if seg.get("wishlist_sku"):
        query = query.where(
            customers.c.id.in_(
                select(wishlist_items.c.customer_id).where(
                    wishlist_items.c.sku == seg["wishlist_sku"]
                )
            )
        )
    return query.order_by(customers.c.id)


def _segment_chunks(conn: Connection, campaign: Any, now: datetime) -> Iterator[list[Any]]:
    last = 0
    while True:
        rows = conn.execute(
            segment_query(campaign, now).where(customers.c.id > last).limit(CHUNK)
        ).all()
        if not rows:
            return
        yield list(rows)
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
    try:
        with conn.begin_nested():
            run_id = conn.execute(
                insert(campaign_runs)
                .values(
                    campaign_id=campaign.id, fire_time=fire_time.astimezone(UTC), started_at=now
                )
                .returning(campaign_runs.c.id)
            ).scalar_one()
    except IntegrityError:
        return None
    fired = {"fire_time": fire_time.isoformat(), "run": run_id}
    audit.append(
        conn, [audit.Event(actor, "campaign.fired", f"campaign#{campaign.id}", fired)], now
    )
    return run_id


def run(
    engine: Engine,
    ref: str | int,
    *,
    fire_time: datetime,
    rules: Rules,
    now: datetime,
    expiry: notify.Expiry,
    actor: str = "scheduler",
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Fan out one firing; a second call with the same fire_time is a no-op (ran=False).

    A firing that fails part-way (e.g. a campaign stored before its params were checked) is
    finished with its error on the run (``report.error``); chunks before it stay queued.
    """
    with engine.begin() as conn:
        campaign = get(conn, ref)
        run_id = _start(conn, campaign, fire_time, now, actor)
    if run_id is None:
        return RunReport(campaign.name, fire_time, ran=False)
    report = RunReport(campaign.name, fire_time, ran=True)
    sending = {"source": _source(campaign), "actor": actor, "now": now, "rules": rules}
    try:
        _fan_out(engine, campaign, report, {**sending, "expiry": expiry, "progress": progress})
    except Exception as exc:  # whatever stops a firing ends up on its run, not in a traceback
        if is_fault(exc):
            raise  # the database itself is gone: nothing can be recorded on the run
        report.error = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
    with engine.begin() as conn:
        conn.execute(
            update(campaign_runs)
            .where(campaign_runs.c.id == run_id)
            .values(finished_at=now, selected=report.selected, created=report.created)
            .values(error=report.error)
        )
        if report.error:
            failed = {"run": run_id, "error": report.error}
            event = audit.Event(actor, "campaign.failed", f"campaign#{campaign.id}", failed)
            audit.append(conn, [event], now)
    return report


def _fan_out(engine: Engine, campaign: Any, report: RunReport, sending: dict[str, Any]) -> None:
    progress = sending.pop("progress")
    last = 0
    while True:  # one transaction per chunk: progress is durable, a crash resumes by dedupe key
        with engine.begin() as conn:
            rows = conn.execute(
                segment_query(campaign, sending["now"]).where(customers.c.id > last).limit(CHUNK)
            ).all()
            if not rows:
                return
            done = notify.notify_all(
                conn,
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
