"""A campaign's dry run: what a run now would do, per channel and reason, writing nothing.

The same segment, requests and policy decisions as ``campaigns.run``, tallied instead of
sent; SMS sizes as dispatch would render them, and when each message may go (the forecast).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.values import Channel, Defer, Send
from outbound.policy import decide
from outbound.policy.model import CustomerView, NotificationView, Rules
from outbound.services.campaigns import forecast
from outbound.services.campaigns.runs import _requests, _segment_chunks, get
from outbound.services.send import notify
from outbound.services.send.snapshots import load_snapshots
from outbound.services.templates import render
from outbound.services.templates.preview import Preview as MessagePreview
from outbound.store.snapshots import existing


@dataclass
class Preview:
    selected: int = 0
    duplicates: int = 0
    send_now: Counter[str] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)
    first_resume: dict[str, datetime] = field(default_factory=dict)
    suppressed: Counter[str] = field(default_factory=Counter)
    #: SMS that would go out (now or deferred): "2 parts, ucs2" -> count; longest text in chars
    sms_parts: Counter[str] = field(default_factory=Counter)
    sms_longest: int = 0
    #: for the forecast: units (SMS parts, pushes, calls) by channel and the instant they may go
    arrivals: dict[str, Counter[datetime]] = field(default_factory=dict)
    #: deferred messages by channel and when they resume, on the customers' clocks
    waiting: dict[str, Counter[str]] = field(default_factory=dict)


def preview(
    conn: Connection,
    ref: str | int,
    *,
    rules: Rules,
    now: datetime,
    expiry: notify.Expiry,
    renderer: render.MessageRenderer | None = None,
) -> Preview:
    """Dry run: what a run now would do, per channel and reason. Writes nothing.

    SMS sizes come from ``renderer`` (brand and footer as dispatch sends them); pass the one
    built from the messaging rules the dispatcher uses.
    """
    campaign = get(conn, ref)
    renderer = renderer or render.MessageRenderer(rules)
    out = Preview()
    for rows in _segment_chunks(conn, campaign, now):
        reqs = _requests(campaign, rows, now, expiry)
        known = set(existing(conn, [r.dedupe_key for r in reqs]))
        snaps = load_snapshots(conn, [r.customer_id for r in reqs], now)
        people = {r.id: r for r in rows}
        out.selected += len(reqs)
        for req in reqs:
            if req.dedupe_key in known:
                out.duplicates += 1
                continue
            d = decide(
                NotificationView(req.kind, req.purpose, req.expires_at),
                snaps[req.customer_id],
                rules,
            )
            _tally(out, d)
            who, units = people[req.customer_id], 1
            if isinstance(d, (Send, Defer)) and d.channel is Channel.SMS:
                sms = renderer.preview(req.kind, Channel.SMS, who.locale, who.country, req.payload)
                _sms_size(out, sms)
                units = sms.parts
            _arrival(out, d, units, snaps[req.customer_id].customer, now)
    return out


def _arrival(out: Preview, d: Any, units: int, who: CustomerView, now: datetime) -> None:
    if not isinstance(d, (Send, Defer)):
        return
    channel = d.channel.value if d.channel else "any"
    at = d.at if isinstance(d, Send) else d.until
    out.arrivals.setdefault(channel, Counter())[at] += units
    if isinstance(d, Defer):
        zone = forecast.zone_of(who.timezone, who.phone_e164, who.country)
        out.waiting.setdefault(channel, Counter())[forecast.local_label(d.until, zone, now)] += 1


def _sms_size(out: Preview, sms: MessagePreview) -> None:
    out.sms_parts[f"{sms.parts} part{'s' if sms.parts > 1 else ''}, {sms.encoding}"] += 1
    out.sms_longest = max(out.sms_longest, sms.chars)


def _tally(out: Preview, d: Any) -> None:
    if isinstance(d, Send):
        out.send_now[d.channel.value] += 1
    elif isinstance(d, Defer):
        key = d.channel.value if d.channel else "any"
        out.deferred[key] += 1
        if key not in out.first_resume or d.until < out.first_resume[key]:
            out.first_resume[key] = d.until
    else:
        out.suppressed[d.reason] += 1
