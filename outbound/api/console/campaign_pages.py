"""``/console/campaigns``: every campaign, and one campaign's report with its chart.

The report is ``campaign report NAME``'s (``services.campaign_report``): the funnel per channel,
deferrals by reason with when they resume, sends per local hour; the chart is the SVG
``--chart`` writes, inlined after ``svg.inline_svg`` pruned it. Operators may pause and resume.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from outbound.api.console.auth import Auth, PageRefused, check_csrf, read_form, signed_in
from outbound.api.console.svg import inline_svg
from outbound.api.console.views import page, path_id, read
from outbound.services.campaigns import runs as campaign_service
from outbound.services.campaigns.report import STAGES, funnel_report
from outbound.services.views import console
from outbound.services.views.charts import report_svg


def _hours(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Sends per local hour as rows (hours with no send left out)."""
    by_channel = report["sends_by_local_hour"]
    return [
        {"hour": f"{h:02d}:00", **{ch: counts[h] for ch, counts in by_channel.items()}}
        for h in range(24)
        if any(counts[h] for counts in by_channel.values())
    ]


def install_campaign_pages(api: FastAPI, auth: Auth) -> None:
    @api.get("/console/campaigns", response_class=HTMLResponse, include_in_schema=False)
    async def campaign_list(request: Request) -> HTMLResponse:
        viewer = await signed_in(auth, request)
        rows = await run_in_threadpool(read, auth, console.campaigns_overview)
        return page(auth, request, "campaigns.html", viewer, campaigns=rows)

    @api.get("/console/campaigns/{cid}", response_class=HTMLResponse, include_in_schema=False)
    async def campaign_report(request: Request, cid: int = path_id()) -> HTMLResponse:
        viewer = await signed_in(auth, request)

        def load(conn: Connection) -> dict[str, Any]:
            return funnel_report(conn, cid, now=auth.clock())

        report = await run_in_threadpool(read, auth, load)
        chart = inline_svg(report_svg(report))
        return page(
            auth,
            request,
            "campaign.html",
            viewer,
            r=report,
            stages=STAGES,
            chart=chart,
            hours=_hours(report),
        )

    @api.post("/console/campaigns/{cid}/{verb}", include_in_schema=False)
    async def campaign_status(request: Request, verb: str, cid: int = path_id()) -> Response:
        viewer = await signed_in(auth, request)
        form = await read_form(request)
        check_csrf(viewer.csrf_token, form)
        status = {"pause": "paused", "resume": "active"}.get(verb)
        if status is None:
            raise PageRefused(
                404, "Not found", f"no campaign action {verb[:20]!r}; use pause or resume"
            )
        if not viewer.may_operate:
            raise PageRefused(
                403,
                "Not allowed",
                f"Role {viewer.role!r} reads only; an operator account may pause or resume campaigns.",
            )

        def change(conn: Connection) -> None:
            campaign_service.set_status(conn, cid, status, now=auth.clock(), actor=viewer.actor)

        await run_in_threadpool(read, auth, change)
        back = f"/console/campaigns/{cid}" if form.get("back") == "report" else "/console/campaigns"
        return RedirectResponse(back, status_code=303)
