"""Status webhook endpoints, their outbox of signed messages and the delivery attempts.

A message row moves ``pending -> delivered`` (or ``failed`` once the retries are spent); a worker
takes due rows with a lease (``lease_owner``, ``lease_until``) by one conditional UPDATE, so two
workers never send the same row at once and a worker killed mid-delivery only delays it until
its lease runs out. What to send and when to retry is decided by ``outbound.services.endpoints``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.store.tables import customers, endpoint_attempts, endpoint_messages, endpoints

_M = endpoint_messages
_E = endpoints
_A = endpoint_attempts


@dataclass(frozen=True)
class Endpoint:
    id: int
    name: str
    url: str
    events: tuple[str, ...]
    include_phone: bool
    status: str
    disabled_reason: str | None
    failure_run: int
    created_at: datetime
    queued: int = 0  # pending messages (the queue depth)


@dataclass(frozen=True)
class Subscriber:
    """What fanning an event out needs of an active endpoint."""

    id: int
    events: frozenset[str]
    include_phone: bool


@dataclass(frozen=True)
class NewMessage:
    endpoint_id: int
    webhook_id: str
    event_type: str
    notification_id: int | None
    body: str


@dataclass(frozen=True)
class Leased:
    id: int
    endpoint_id: int
    webhook_id: str
    body: str
    attempts: int  # attempts before this one
    url: str
    secrets: tuple[str, ...]  # the current secret first; the previous one during a rotation


@dataclass(frozen=True)
class Attempted:
    message_id: int
    endpoint_id: int
    at: datetime
    status_code: int | None
    excerpt: str | None
    error: str | None
    duration_ms: int
    ok: bool
    retry_at: datetime | None  # None with ok=False: the retries are spent


def _endpoint(row: Any, queued: int = 0) -> Endpoint:
    return Endpoint(
        int(row.id),
        row.name,
        row.url,
        tuple(row.events),
        bool(row.include_phone),
        row.status,
        row.disabled_reason,
        int(row.failure_run),
        row.created_at,
        queued,
    )


def add_endpoint(
    conn: Connection,
    name: str,
    url: str,
    events: Sequence[str],
    *,
    secret: str,
    include_phone: bool,
    now: datetime,
) -> int:
    values = {
        "name": name,
        "url": url,
        "events": list(events),
        "secret": secret,
        "include_phone": include_phone,
        "status": "active",
        "failure_run": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with conn.begin_nested():
            q = insert(_E).values(**values).returning(_E.c.id)
            return int(conn.execute(q).scalar_one())
    except IntegrityError:
        problem = FieldProblem("name", name, "is taken; pick another or `endpoint remove` it")
        raise ValidationError([problem]) from None


def queue_depths(conn: Connection) -> dict[int, int]:
    """Pending messages per endpoint id."""
    q = (
        select(_M.c.endpoint_id, func.count())
        .where(_M.c.status == "pending")
        .group_by(_M.c.endpoint_id)
    )
    return {int(e): int(n) for e, n in conn.execute(q)}


def all_endpoints(conn: Connection) -> list[Endpoint]:
    depths = queue_depths(conn)
    rows = conn.execute(select(_E).order_by(_E.c.name))
    return [_endpoint(r, depths.get(int(r.id), 0)) for r in rows]


def endpoint_named(conn: Connection, name: str) -> Endpoint:
    row = conn.execute(select(_E).where(_E.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no endpoint named {name!r}; see `outbound endpoint list`")
    return _endpoint(row, queue_depths(conn).get(int(row.id), 0))


def subscribers(conn: Connection) -> list[Subscriber]:
    q = select(_E.c.id, _E.c.events, _E.c.include_phone).where(_E.c.status == "active")
    return [
        Subscriber(int(r.id), frozenset(r.events), bool(r.include_phone)) for r in conn.execute(q)
    ]


def active_ids(conn: Connection, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` that are still active endpoints (a cached list may be a second old)."""
    q = select(_E.c.id).where(_E.c.id.in_(list(ids)), _E.c.status == "active")
    return {int(i) for i in conn.execute(q).scalars()}


def set_status(
    conn: Connection, endpoint_id: int, status: str, reason: str | None, now: datetime
) -> None:
    values: dict[str, Any] = {"status": status, "disabled_reason": reason, "updated_at": now}
    if status == "active":
        values["failure_run"] = 0
    conn.execute(update(_E).where(_E.c.id == endpoint_id).values(**values))


def rotate_secret(
    conn: Connection, endpoint_id: int, secret: str, previous_until: datetime, now: datetime
) -> None:
    conn.execute(
        update(_E)
        .where(_E.c.id == endpoint_id)
        .values(
            previous_secret=_E.c.secret,
            previous_until=previous_until,
            secret=secret,
            updated_at=now,
        )
    )


def remove_endpoint(conn: Connection, endpoint_id: int) -> None:
    ids = select(_M.c.id).where(_M.c.endpoint_id == endpoint_id)
    conn.execute(delete(_A).where(_A.c.message_id.in_(ids)))
    conn.execute(delete(_M).where(_M.c.endpoint_id == endpoint_id))
    conn.execute(delete(_E).where(_E.c.id == endpoint_id))


def customer_facts(conn: Connection, customer_id: int) -> tuple[str | None, str | None]:
    """A customer's external id and phone (None for an unknown customer)."""
    q = select(customers.c.external_id, customers.c.phone_e164).where(customers.c.id == customer_id)
    row = conn.execute(q).first()
    return (row.external_id, row.phone_e164) if row is not None else (None, None)


def insert_messages(conn: Connection, messages: Sequence[NewMessage], now: datetime) -> None:
    if not messages:
        return
    conn.execute(
        insert(_M),
        [
            {
                "endpoint_id": m.endpoint_id,
                "webhook_id": m.webhook_id,
                "event_type": m.event_type,
                "notification_id": m.notification_id,
                "body": m.body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for m in messages
        ],
    )


def lease_due(
    conn: Connection, *, now: datetime, until: datetime, owner: str, limit: int
) -> list[Leased]:
    """Take up to ``limit`` due messages of active endpoints for ``owner`` until ``until``."""
    free = or_(_M.c.lease_until.is_(None), _M.c.lease_until <= now)
    due = (
        select(_M.c.id)
        .join(_E, _E.c.id == _M.c.endpoint_id)
        .where(_M.c.status == "pending", _M.c.next_attempt_at <= now, free, _E.c.status == "active")
        .order_by(_M.c.next_attempt_at, _M.c.id)
        .limit(limit)
    )
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    conn.execute(
        update(_M)
        .where(_M.c.id.in_(ids), _M.c.status == "pending", free)
        .values(lease_until=until, lease_owner=owner)
    )
    q = (
        select(_M.c.id, _M.c.endpoint_id, _M.c.webhook_id, _M.c.body, _M.c.attempts)
        .add_columns(_E.c.url, _E.c.secret, _E.c.previous_secret, _E.c.previous_until)
        .join(_E, _E.c.id == _M.c.endpoint_id)
        .where(_M.c.id.in_(ids), _M.c.lease_owner == owner)
        .order_by(_M.c.id)
    )
    leased = []
    for r in conn.execute(q):
        rotating = r.previous_secret and r.previous_until and r.previous_until > now
        secrets = (r.secret, r.previous_secret) if rotating else (r.secret,)
        leased.append(
            Leased(int(r.id), int(r.endpoint_id), r.webhook_id, r.body, r.attempts, r.url, secrets)
        )
    return leased


_DONE = (
    update(_M)
    .where(_M.c.id == bindparam("b_id"), _M.c.lease_owner == bindparam("b_owner"))
    .values(
        status=bindparam("b_status"),
        attempts=_M.c.attempts + 1,
        next_attempt_at=bindparam("b_next"),
        lease_until=None,
        lease_owner=None,
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        delivered_at=bindparam("b_delivered"),
    )
)


def record_attempts(conn: Connection, results: Sequence[Attempted], owner: str) -> dict[int, int]:
    """Store the attempts and the messages' new state — only where ``owner`` still holds the
    lease (a replay meanwhile queued the message again); returns each touched endpoint's run
    of failed attempts as it stands now."""
    if not results:
        return {}
    conn.execute(
        insert(_A),
        [
            {
                "message_id": r.message_id,
                "at": r.at,
                "status_code": r.status_code,
                "excerpt": r.excerpt,
                "error": r.error,
                "duration_ms": r.duration_ms,
            }
            for r in results
        ],
    )
    conn.execute(
        _DONE,
        [
            {
                "b_id": r.message_id,
                "b_owner": owner,
                "b_status": "delivered" if r.ok else "pending" if r.retry_at else "failed",
                "b_next": r.retry_at or r.at,
                "b_code": r.status_code,
                "b_error": r.error,
                "b_delivered": r.at if r.ok else None,
            }
            for r in results
        ],
    )
    runs: dict[int, tuple[bool, int]] = {}  # endpoint -> (reset by a success, failures after)
    for r in sorted(results, key=lambda r: r.at):
        reset, fails = runs.get(r.endpoint_id, (False, 0))
        runs[r.endpoint_id] = (True, 0) if r.ok else (reset, fails + 1)
    for endpoint_id, (reset, fails) in runs.items():
        run = fails if reset else _E.c.failure_run + fails
        conn.execute(update(_E).where(_E.c.id == endpoint_id).values(failure_run=run))
    q = select(_E.c.id, _E.c.failure_run).where(_E.c.id.in_(list(runs)))
    return {int(i): int(n) for i, n in conn.execute(q)}


@dataclass(frozen=True)
class AttemptRow:
    webhook_id: str
    event_type: str
    notification_id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    at: datetime | None
    status_code: int | None
    excerpt: str | None
    error: str | None


def recent_messages(conn: Connection, endpoint_id: int, limit: int) -> list[AttemptRow]:
    """The endpoint's latest messages with their last attempt, newest first."""
    last = (
        select(_A.c.message_id, func.max(_A.c.id).label("aid")).group_by(_A.c.message_id)
    ).subquery()
    q = (
        select(_M, _A.c.at, _A.c.status_code.label("code"), _A.c.excerpt, _A.c.error)
        .select_from(
            _M.outerjoin(last, last.c.message_id == _M.c.id).outerjoin(_A, _A.c.id == last.c.aid)
        )
        .where(_M.c.endpoint_id == endpoint_id)
        .order_by(_M.c.id.desc())
        .limit(limit)
    )
    return [
        AttemptRow(
            r.webhook_id,
            r.event_type,
            r.notification_id,
            r.status,
            r.attempts,
            r.next_attempt_at if r.status == "pending" else None,
            r.at,
            r.code,
            r.excerpt,
            r.error,
        )
        for r in conn.execute(q)
    ]


def requeue(
    conn: Connection,
    endpoint_id: int,
    *,
    now: datetime,
    since: datetime | None = None,
    notification_id: int | None = None,
    webhook_id: str | None = None,
) -> int:
    """Send the endpoint's chosen messages again (same webhook-id); returns how many."""
    q = update(_M).where(_M.c.endpoint_id == endpoint_id)
    if since is not None:
        q = q.where(_M.c.created_at >= since)
    if notification_id is not None:
        q = q.where(_M.c.notification_id == notification_id)
    if webhook_id is not None:
        q = q.where(_M.c.webhook_id == webhook_id)
    values = {"status": "pending", "next_attempt_at": now, "lease_until": None, "lease_owner": None}
    return int(conn.execute(q.values(**values)).rowcount)


def disable_failing(conn: Connection, limit: int, now: datetime) -> list[tuple[str, int]]:
    """Disable the active endpoints whose run of failed attempts reached ``limit``; returns
    their names and runs."""
    q = select(_E.c.id, _E.c.name, _E.c.failure_run).where(
        _E.c.status == "active", _E.c.failure_run >= limit
    )
    found = [(int(r.id), r.name, int(r.failure_run)) for r in conn.execute(q)]
    for endpoint_id, _, run in found:
        reason = f"{run} failed attempts in a row"
        set_status(conn, endpoint_id, "disabled", reason, now)
    return [(name, run) for _, name, run in found]
