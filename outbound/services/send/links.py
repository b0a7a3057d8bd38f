"""Provider links a process keeps (a dialer's SIP trunk registration): their state, recorded
when it changes, so readiness (``/readyz``) can say that calls cannot go out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from outbound.store.links import failed_links, set_link_state


def record_link(engine: Engine, name: str, state: str, detail: str, now: datetime) -> None:
    with engine.begin() as conn:
        set_link_state(conn, name, state, detail, now)


def link_failures(engine: Engine) -> list[str]:
    """One line per link whose last state is failed, e.g. ``sip registration sip:t: 403 Forbidden``."""
    with engine.begin() as conn:
        return [f"{name}: {detail}" for name, detail in failed_links(conn)]
