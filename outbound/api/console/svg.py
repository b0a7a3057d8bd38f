"""An SVG made fit to inline in a console page: only drawing elements and attributes survive.

The report chart is rendered by pygal, which escapes every text it is given (a campaign's name
is the chart's title) and whose tooltip script ``services.charts`` already drops. Inlined in
HTML, though, anything script-like in the SVG would run with the console's session, so the
markup is parsed and rebuilt from an allow-list: no ``<script>``, ``<foreignObject>``, ``<a>`` or
``<use>``, no ``on*`` handler, no link. The console's Content-Security-Policy (no script at
all) stands behind this.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

_SVG = "http://www.w3.org/2000/svg"
ELEMENTS = frozenset(
    [
        "svg",
        "g",
        "defs",
        "style",
        "title",
        "desc",
        "rect",
        "path",
        "text",
        "tspan",
        "line",
        "polyline",
        "polygon",
        "circle",
        "ellipse",
        "clipPath",
        "linearGradient",
        "radialGradient",
        "stop",
    ]
)
ATTRIBUTES = frozenset(
    [
        "class",
        "id",
        "d",
        "x",
        "y",
        "x1",
        "x2",
        "y1",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "dx",
        "dy",
        "width",
        "height",
        "viewBox",
        "transform",
        "style",
        "type",
        "text-anchor",
        "points",
        "fill",
        "stroke",
        "stroke-width",
        "opacity",
        "fill-opacity",
        "font-size",
        "font-family",
        "offset",
        "stop-color",
        "clip-path",
        "preserveAspectRatio",
        "role",
        "aria-label",
    ]
)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _allowed_tag(tag: object) -> bool:
    """A drawing element in the SVG namespace (comments and processing instructions are not)."""
    return isinstance(tag, str) and tag.startswith(f"{{{_SVG}}}") and _local(tag) in ELEMENTS


def _prune(element: ET.Element) -> None:
    for child in list(element):
        if _allowed_tag(child.tag):
            _prune(child)
        else:
            element.remove(child)
    for name in list(element.attrib):
        if "}" in name or name not in ATTRIBUTES:  # xlink:href and every other namespace too
            del element.attrib[name]


def inline_svg(document: str) -> str:
    """``document`` (a standalone SVG) as markup for a page (``| safe`` in the template):
    pruned to the allow-list."""
    root = ET.fromstring(document)  # our own rendering: no DTD, no entities to expand
    if not _allowed_tag(root.tag) or _local(root.tag) != "svg":
        raise ValueError("not an SVG document")
    _prune(root)
    ET.register_namespace("", _SVG)
    return ET.tostring(root, encoding="unicode")
