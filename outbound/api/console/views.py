"""What every console page does: one transaction per request, a page from a template, ids and
times from the URL checked (a bad one is a readable 4xx page, never a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Path as FastPath
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection

from outbound.api.console.auth import Auth, PageRefused
from outbound.domain.errors import NotFoundError
from outbound.services.people.accounts import Viewer
from outbound.services.views import console

T = TypeVar("T")


def path_id() -> Any:
    """A positive database id in the path (a new marker per route: FastAPI binds it to a name)."""
    return FastPath(ge=1, le=2**63 - 1)


def read(auth: Auth, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction; an unknown id is a 404 page."""
    try:
        with auth.engine.begin() as conn:
            return work(conn)
    except NotFoundError as exc:
        raise PageRefused(404, "Not found", str(exc)) from None


def page(
    auth: Auth, request: Request, name: str, viewer: Viewer, status: int = 200, **values: Any
) -> HTMLResponse:
    context = {
        "viewer": viewer,
        "csrf": viewer.csrf_token,
        "may_reveal": auth.may_reveal(viewer),
        "may_erase": auth.may_erase(viewer),
    }
    return auth.templates.TemplateResponse(request, name, {**context, **values}, status_code=status)


def customer_id(conn: Connection, cid: int) -> int:
    return console.customer_id_of(conn, cid)


def when(field: str, value: str) -> datetime | None:
    """A ``datetime-local`` form value (YYYY-MM-DDTHH:MM), read as UTC."""
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise PageRefused(
            400,
            f"Bad {field} time",
            f"{field} {value[:40]!r} is not a time; give it like 2026-12-01T09:30 (UTC)",
        ) from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise PageRefused(
            400,
            f"Bad {field} time",
            f"{field} {value[:40]!r} falls outside the years 0001-9999 in UTC; "
            "give a time like 2026-12-01T09:30 (UTC)",
        ) from None


#: the largest id a database row can have (a signed 64-bit integer)
MAX_ID = 2**63 - 1


def page_cursor(field: str, value: str) -> int | None:
    """A paging cursor (a row id) from the URL; anything but 1..2^63-1 is a 400 page."""
    text = value.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise PageRefused(
            400,
            f"Bad {field}",
            f"{field} {value[:40]!r} is not a row id (a whole number from 1 to {MAX_ID}); "
            "follow the page's Older link instead of editing it",
        )
    return int(text)
