"""One-click evidence exports: the same CSV or JSONL and manifest as ``outbound audit export``
(``outbound.services.views.evidence``), for one customer, one campaign or a time range of the log.

The download is a zip holding the two files the CLI would write (``evidence-C1001.csv`` and
``evidence-C1001.csv.manifest.json``); the manifest names the chain head and the scheduled
checkpoint file. Each export is an audit event (who exported what: format, row count and the
file's sha256), appended after the export was read, so the file is exactly what the chain
says was handed out. A forgotten customer's export is the erasure record only.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import Auth, PageRefused, signed_in
from outbound.api.console.views import path_id, read, when
from outbound.services.campaigns import runs as campaigns
from outbound.services.checkpoints import scheduled_file
from outbound.services.views import console
from outbound.services.views.evidence import Format, Selection, export_text, manifest_text

FORMATS: dict[str, Format] = {"csv": "csv", "jsonl": "jsonl"}


def _format(fmt: str) -> Format:
    found = FORMATS.get(fmt)
    if found is None:
        raise PageRefused(404, "Not found", f"no export format {fmt[:20]!r}; use csv or jsonl")
    return found


def _bundle(what: str, fmt: Format, text: str, meta: dict[str, object]) -> bytes:
    """The zip: the export and its manifest, named as ``outbound audit export`` names them."""
    name = f"evidence-{what}.{fmt}"
    meta["file"] = name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)
        archive.writestr(f"{name}.manifest.json", manifest_text(meta))
    return buffer.getvalue()


def _export(auth: Auth, actor: str, subject: str, sel: Selection, fmt: Format) -> bytes:
    """Read the export and audit it, in one transaction."""

    def work(conn: Connection) -> bytes:
        now = auth.clock()
        text, meta = export_text(
            conn,
            sel,
            fmt,
            now=now,
            key=auth.erasure_key(),
            checkpoint=scheduled_file(auth.checkpoint_to),
        )
        console.record_export(conn, actor, subject, meta, now)
        what = sel.customer or sel.campaign or "audit"
        return _bundle(re.sub(r"[^A-Za-z0-9_.-]", "_", what), fmt, text, meta)

    return read(auth, work)


def _download(body: bytes, what: str, fmt: Format, now: datetime) -> Response:
    name = f"evidence-{re.sub(r'[^A-Za-z0-9_.-]', '_', what)}-{fmt}-{now:%Y%m%dT%H%M%SZ}.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _customer_ref(conn: Connection, cid: int) -> str:
    """The external id the CLI would be given (a forgotten customer's is the pseudonym)."""
    return console.external_id_of(conn, cid)


def _campaign_ref(conn: Connection, cid: int) -> str:
    row = campaigns.get(conn, cid)
    return str(row.id) if str(row.name).isdigit() else str(row.name)


def install_exports(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/customers/{cid}/export.{fmt}", include_in_schema=False)
    async def customer_export(request: Request, fmt: str, cid: int = path_id()) -> Response:
        viewer, kind = await signed_in(auth, request), _format(fmt)
        ref = await run_in_threadpool(read, auth, lambda conn: _customer_ref(conn, cid))
        sel = Selection(customer=ref)
        body = await run_in_threadpool(_export, auth, viewer.actor, f"customer#{cid}", sel, kind)
        return _download(body, ref, kind, auth.clock())

    @api.get("/console/campaigns/{cid}/export.{fmt}", include_in_schema=False)
    async def campaign_export(request: Request, fmt: str, cid: int = path_id()) -> Response:
        viewer, kind = await signed_in(auth, request), _format(fmt)
        ref = await run_in_threadpool(read, auth, lambda conn: _campaign_ref(conn, cid))
        sel = Selection(campaign=ref)
        body = await run_in_threadpool(_export, auth, viewer.actor, f"campaign#{cid}", sel, kind)
        return _download(body, f"campaign-{cid}", kind, auth.clock())

    @api.get("/console/audit/export.{fmt}", include_in_schema=False)
    async def range_export(
        request: Request, fmt: str, since: str = "", until: str = ""
    ) -> Response:
        viewer, kind = await signed_in(auth, request), _format(fmt)
        start, end = when("since", since), when("until", until)
        if start is None or end is None:
            raise PageRefused(
                400,
                "Give a time range",
                "An export of the audit log needs both From and Until (UTC), e.g. "
                "2026-11-01T00:00 and 2026-12-01T00:00; the whole log is "
                "`outbound audit export` on the command line.",
            )
        if start >= end:
            raise PageRefused(
                400,
                "Bad time range",
                f"From {since[:40]!r} is not before Until {until[:40]!r}; give an earlier From.",
            )
        sel = Selection(since=start, until=end)
        body = await run_in_threadpool(_export, auth, viewer.actor, "audit", sel, kind)
        return _download(body, f"audit-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}", kind, auth.clock())
