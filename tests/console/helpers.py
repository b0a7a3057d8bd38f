"""Signing in to the console over plain HTTP, as a browser's form would."""

from __future__ import annotations

import html
import io
import re
import zipfile

import httpx
from sqlalchemy import Engine, select

from outbound.store.tables import audit_events

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PRE = re.compile(r'<pre id="why">(.*?)</pre>', re.S)


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def why_text(page: str) -> str:
    found = _PRE.search(page)
    assert found, "no decision text on the page"
    return html.unescape(found.group(1))


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, follow_redirects=False)


def login(http: httpx.Client, name: str, password: str) -> httpx.Response:
    form = http.get("/console/login")
    return http.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": password, "next": "/console"},
    )


def signed_in(url: str, name: str, password: str) -> httpx.Client:
    http = client(url)
    answer = login(http, name, password)
    assert answer.status_code == 303, answer.text
    return http


def events_after(engine: Engine, seq: int, action: str) -> list[tuple[str, str, str]]:
    """(actor, subject, data) of the audit events of ``action`` after ``seq``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.subject, audit_events.c.data)
            .where(audit_events.c.seq > seq, audit_events.c.action == action)
            .order_by(audit_events.c.seq)
        ).all()
    return [(r.actor, r.subject, r.data) for r in rows]


def last_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq.desc())).scalar()
            or 0
        )


def unzipped(body: bytes) -> dict[str, str]:
    """The files of a console export (a zip), by name."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def audit_rows(engine: Engine, subjects: list[str], through: int) -> list[tuple[int, str, str]]:
    """(seq, action, hash) of the audit events about any of ``subjects`` up to seq ``through``,
    in chain order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.seq, audit_events.c.action, audit_events.c.hash)
            .where(audit_events.c.subject.in_(subjects), audit_events.c.seq <= through)
            .order_by(audit_events.c.seq)
        ).all()
    return [(int(r.seq), str(r.action), str(r.hash)) for r in rows]
