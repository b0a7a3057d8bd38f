"""What policy decisions read, loaded in bulk: a handful of IN-queries per chunk of customers.

Plain rows only; ``outbound.services.send.snapshots`` turns them into policy snapshots.

Planning new notifications reads here once (``send_view_by_ref``, for events naming their customer
by reference: webhooks, the CLI, imports; ``send_view``, for customers already known: campaigns,
price drops, voice follow-ups): a ``SendView`` of the customers found, the notifications
already stored under the batch's dedupe keys and, for the customers with a new notification,
their rows. The write is ``store.notifications.commit_plan``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select

from outbound.domain.dedupe import dedupe_key
from outbound.domain.values import Kind, row_id
from outbound.store.tables import (
    cap_counters,
    consents,
    customers,
    notifications,
    preferences,
    push_subscriptions,
    suppressions,
)

CHUNK = 900


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Built once, with expanding IN parameters: a chunk costs no statement building.
def _in(column: Any) -> Any:
    return column.in_(bindparam("b_ids", expanding=True))


_CUSTOMERS = select(
    customers.c.id,
    customers.c.country,
    customers.c.timezone,
    customers.c.phone_e164,
    customers.c.state,
).where(_in(customers.c.id))
_PREFERENCES = (
    select(preferences.c.customer_id, preferences.c.channel)
    .where(_in(preferences.c.customer_id))
    .order_by(preferences.c.customer_id, preferences.c.rank)
)
_PUSH = (
    select(push_subscriptions.c.customer_id).where(_in(push_subscriptions.c.customer_id)).distinct()
)
_CONSENTS = select(consents).where(_in(consents.c.customer_id)).order_by(consents.c.id)
_COUNTERS = select(cap_counters.c.customer_id, cap_counters.c.key, cap_counters.c.n).where(
    _in(cap_counters.c.customer_id)
)
_SUPPRESSED = select(
    suppressions.c.customer_id, suppressions.c.phone_e164, suppressions.c.reason
).where(
    or_(
        _in(suppressions.c.customer_id),
        suppressions.c.phone_e164.in_(bindparam("b_phones", expanding=True)),
    )
)


def _consents(conn: Connection, ids: Sequence[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for r in conn.execute(_CONSENTS, {"b_ids": list(ids)}):
        out[r.customer_id].append(r)
    return out


def _counters(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for r in conn.execute(_COUNTERS, {"b_ids": list(ids)}):
        out[int(r.customer_id)][r.key] = int(r.n)
    return out


def _suppressed(conn: Connection, rows: Iterable[Any]) -> dict[int, str]:
    """Suppression list entries by customer, or by any customer's phone number."""
    by_phone = {r.phone_e164: r.id for r in rows if r.phone_e164}
    ids = {r.id for r in rows}
    out: dict[int, str] = {}
    params = {"b_ids": sorted(ids), "b_phones": sorted(by_phone)}
    for r in conn.execute(_SUPPRESSED, params):
        cid = r.customer_id if r.customer_id in ids else by_phone.get(r.phone_e164)
        if cid is not None:
            out.setdefault(int(cid), r.reason)
    return out


@dataclass(frozen=True)
class CustomerRows:
    """What the policy needs to know of one customer, as stored (plain rows and values)."""

    customer: Any  # the customers row
    preference: tuple[str, ...]  # channels by rank
    has_push: bool
    consents: tuple[Any, ...]  # consents rows, oldest first
    counters: dict[str, int]  # cap counter key -> n
    suppressed: str | None  # the reason of a suppression list entry


def load_customer_rows(conn: Connection, customer_ids: Iterable[int]) -> dict[int, CustomerRows]:
    """Many customers in a handful of IN-queries per chunk; unknown ids are simply absent."""
    result: dict[int, CustomerRows] = {}
    for ids in chunks(sorted(set(customer_ids))):
        params = {"b_ids": list(ids)}
        rows = conn.execute(_CUSTOMERS, params).all()
        prefs: dict[int, list[str]] = defaultdict(list)
        for p in conn.execute(_PREFERENCES, params):
            prefs[p.customer_id].append(p.channel)
        push = set(conn.execute(_PUSH, params).scalars())
        consent_map, counters, suppressed = (
            _consents(conn, ids),
            _counters(conn, ids),
            _suppressed(conn, rows),
        )
        for r in rows:
            result[r.id] = CustomerRows(
                customer=r,
                preference=tuple(prefs.get(r.id, ())),
                has_push=r.id in push,
                consents=tuple(consent_map.get(r.id, ())),
                counters=counters.get(r.id, {}),
                suppressed=suppressed.get(r.id),
            )
    return result


# --- the send path's read -------------------------------------------------------------------


@dataclass(frozen=True)
class SendView:
    #: reference -> (customer id, time zone), of the known customers (``read_by_ref`` only)
    recipients: dict[str, tuple[int, str | None]]
    #: dedupe key -> notification id, of the keys already stored
    known: dict[str, int]
    #: what the policy reads, of the customers with a notification not stored yet
    customers: dict[int, CustomerRows]


def send_view(conn: Connection, wanted: Iterable[tuple[int, str]]) -> SendView:
    """The view for (customer id, dedupe key) pairs."""
    return _view(conn, {}, list(wanted))


def send_view_by_ref(
    conn: Connection,
    refs: Iterable[str],
    events: Sequence[tuple[str, Kind, Mapping[str, Any]]],
) -> SendView:
    """The view for events by customer reference: every reference of ``refs`` resolved, and
    for the (reference, kind, stored payload) of ``events`` whose customer is known, its key."""
    found = recipients_by_ref(conn, refs)
    wanted = [
        (found[ref][0], dedupe_key(kind, found[ref][0], body))
        for ref, kind, body in events
        if ref in found
    ]
    return _view(conn, found, wanted)


def _view(
    conn: Connection, found: dict[str, tuple[int, str | None]], wanted: list[tuple[int, str]]
) -> SendView:
    known = existing(conn, [key for _, key in wanted])
    fresh = {cid for cid, key in wanted if key not in known}
    return SendView(found, known, load_customer_rows(conn, fresh) if fresh else {})


_EXISTING = select(notifications.c.id, notifications.c.dedupe_key).where(
    notifications.c.dedupe_key.in_(bindparam("b_keys", expanding=True))
)


def existing(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """Notification ids by dedupe key, for the keys already stored."""
    found: dict[str, int] = {}
    for part in chunks(list(keys)):
        rows = conn.execute(_EXISTING, {"b_keys": list(part)})
        found.update({r.dedupe_key: int(r.id) for r in rows})
    return found


_BY_ID = select(customers.c.id, customers.c.timezone).where(_in(customers.c.id))
_BY_EXTERNAL_ID = select(customers.c.external_id, customers.c.id, customers.c.timezone).where(
    customers.c.external_id.in_(bindparam("b_refs", expanding=True))
)


def recipients_by_ref(conn: Connection, refs: Iterable[str]) -> dict[str, tuple[int, str | None]]:
    """reference -> (id, time zone) of the known customers among ``refs``, resolved as
    ``store.customers.customer_id_for`` resolves one (external id first, then ``#<id>`` or
    digits); unknown references are absent. Two queries, however many references."""
    wanted = set(refs)
    rows = conn.execute(_BY_EXTERNAL_ID, {"b_refs": sorted(wanted)})
    found = {r.external_id: (int(r.id), r.timezone) for r in rows}
    rest = {ref: row_id(ref.removeprefix("#")) for ref in wanted - found.keys()}
    internal = sorted({i for i in rest.values() if i is not None})
    if internal:
        zones = {int(r.id): r.timezone for r in conn.execute(_BY_ID, {"b_ids": internal})}
        found.update({ref: (i, zones[i]) for ref, i in rest.items() if i in zones})
    return found
