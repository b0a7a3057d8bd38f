"""The campaign report as one SVG (pygal, rendered on the server; no script needed to view).

Two pygal charts stacked in one document: the funnel per channel, then sends per hour of the
customers' local day. The console shows the same file that ``campaign report --chart`` writes.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pygal
from pygal.style import DefaultStyle

from outbound.services.campaigns.report import STAGES

WIDTH, HEIGHT = 900, 420
_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*", re.S)
#: pygal inlines its tooltip config as a script; the chart is static without it
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _svg(chart: Any, y: int) -> str:
    body = chart.render(is_unicode=True)
    body = _SCRIPT.sub("", _PROLOG.sub("", body))
    sized = f'<svg x="0" y="{y}" width="{WIDTH}" height="{HEIGHT}" '
    return body.replace("<svg ", sized, 1)


def _counts(top: int) -> list[int]:
    """Whole-number y labels (pygal would print 0.2 steps for small counts)."""
    step = max(1, math.ceil(top / 10))
    return list(range(0, max(top, 1) + step, step))


def _channels(report: dict[str, Any]) -> list[str]:
    """Every channel of the report in one order, so a channel has one colour in both charts."""
    named = {row["channel"] for row in report["funnel"]} | set(report["sends_by_local_hour"])
    return sorted(named)


def funnel_chart(report: dict[str, Any]) -> Any:
    chart = pygal.Bar(
        width=WIDTH,
        height=HEIGHT,
        style=DefaultStyle,
        title=f"{report['campaign']['name']}: funnel per channel ({report['selected']} selected)",
        x_title="stage",
        y_title="count",
        print_values=True,
        disable_xml_declaration=True,
        js=[],  # no script from the internet: the chart is static
    )
    chart.x_labels = list(STAGES)
    if _channels(report):  # pygal fails on y labels of a chart with no series ("No data")
        top = max((row[s] for row in report["funnel"] for s in STAGES), default=0)
        chart.y_labels = _counts(top)
    rows = {row["channel"]: row for row in report["funnel"]}
    for channel in _channels(report):
        row = rows.get(channel)
        chart.add(channel, [row[s] if row else 0 for s in STAGES])
    return chart


def hours_chart(report: dict[str, Any]) -> Any:
    chart = pygal.StackedBar(
        width=WIDTH,
        height=HEIGHT,
        style=DefaultStyle,
        title="sends per hour, customers' local time",
        x_title="local hour",
        y_title="sends",
        disable_xml_declaration=True,
        js=[],  # no script from the internet: the chart is static
    )
    chart.x_labels = [f"{h:02d}" for h in range(24)]
    hours = report["sends_by_local_hour"].values()
    if _channels(report):
        chart.y_labels = _counts(max((sum(col) for col in zip(*hours, strict=True)), default=0))
    for channel in _channels(report):
        chart.add(channel, report["sends_by_local_hour"].get(channel, [0] * 24))
    return chart


def report_svg(report: dict[str, Any]) -> str:
    """One standalone SVG document with both charts."""
    parts = [_svg(funnel_chart(report), 0), _svg(hours_chart(report), HEIGHT)]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{WIDTH}" height="{2 * HEIGHT}" viewBox="0 0 {WIDTH} {2 * HEIGHT}">'
        + "".join(parts)
        + "</svg>\n"
    )
