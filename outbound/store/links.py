"""Link status rows: the state of a provider link a process keeps (a dialer's trunk
registration), written when it changes and read by readiness."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from outbound.store.ledger import insert_ignore
from outbound.store.tables import link_status


def set_link_state(conn: Connection, name: str, state: str, detail: str, now: datetime) -> None:
    """Record that link ``name`` is now in ``state`` (``registered``, ``failed``, ``off``)."""
    row = {"name": name, "state": state, "detail": detail[:500], "changed_at": now}
    insert_ignore(conn, link_status, [row], ["name"])
    conn.execute(update(link_status).where(link_status.c.name == name).values(**row))


def failed_links(conn: Connection) -> list[tuple[str, str]]:
    """(name, detail) of every link whose last state is ``failed``, by name."""
    t = link_status.c
    rows = conn.execute(select(t.name, t.detail).where(t.state == "failed").order_by(t.name))
    return [(str(r.name), str(r.detail)) for r in rows]
