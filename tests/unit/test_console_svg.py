"""The console's SVG pruning: what could run script in an inlined chart is removed, the drawing
stays."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from outbound.api.console.svg import inline_svg

HOSTILE = """<?xml version="1.0" encoding="utf-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="10" height="10" onload="alert(1)">
  <!-- a comment -->
  <script>alert(2)</script>
  <title>&lt;script&gt;alert(3)&lt;/script&gt;</title>
  <g class="bars" onclick="alert(4)">
    <rect x="1" y="2" width="3" height="4" style="fill:red"/>
    <a xlink:href="javascript:alert(5)"><text x="0" y="9">link</text></a>
    <use xlink:href="#x"/>
    <foreignObject><div xmlns="http://www.w3.org/1999/xhtml" onmouseover="alert(6)"/></foreignObject>
  </g>
  <html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(7)</html:script>
</svg>"""


def _tags_and_attributes(markup: str) -> tuple[set[str], set[str]]:
    root = ET.fromstring(markup)
    tags = {e.tag.rsplit("}", 1)[-1] for e in root.iter()}
    return tags, {a for e in root.iter() for a in e.attrib}


def test_script_handlers_links_and_foreign_content_are_removed() -> None:
    markup = inline_svg(HOSTILE)
    tags, attributes = _tags_and_attributes(markup)
    assert tags == {"svg", "title", "g", "rect"}
    assert attributes == {"width", "height", "class", "x", "y", "style"}
    assert "alert(" not in markup.replace("&lt;script&gt;alert(3)&lt;/script&gt;", "")
    assert "<!--" not in markup and "<?xml" not in markup


def test_text_stays_escaped_and_the_drawing_keeps_its_geometry() -> None:
    markup = inline_svg(HOSTILE)
    assert "<title>&lt;script&gt;alert(3)&lt;/script&gt;</title>" in markup
    assert '<rect x="1" y="2" width="3" height="4" style="fill:red" />' in markup
    assert markup.startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_a_document_that_is_not_svg_is_refused() -> None:
    with pytest.raises(ValueError, match="not an SVG document"):
        inline_svg('<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>')
