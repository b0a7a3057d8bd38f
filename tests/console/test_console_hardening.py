"""Hardening, third pass (issue 21) over HTTP against a real ``outbound serve`` on the demo
database: URL values no row or date can have are a readable 400 page, never a 500."""

from __future__ import annotations

import pytest

from tests.console.conftest import PASSWORD, Site
from tests.console.helpers import signed_in


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        (
            "/console/audit",
            {"before": "99999999999999999999999"},
            "before &#39;99999999999999999999999&#39; is not a row id",
        ),
        ("/console/audit", {"before": "-3"}, "before &#39;-3&#39; is not a row id"),
        (
            "/console/audit",
            {"since": "0001-01-01T00:00+01:00"},
            "since &#39;0001-01-01T00:00+01:00&#39; falls outside the years 0001-9999 in UTC",
        ),
        (
            "/console/audit",
            {"until": "9999-12-31T23:59-01:00"},
            "until &#39;9999-12-31T23:59-01:00&#39; falls outside the years 0001-9999 in UTC",
        ),
        (
            "/console/audit/export.csv",
            {"since": "0001-01-01T00:00+01:00", "until": "2026-12-01T00:00"},
            "since &#39;0001-01-01T00:00+01:00&#39; falls outside the years 0001-9999 in UTC",
        ),
        (
            "/console/audit/export.jsonl",
            {"since": "2026-11-01T00:00", "until": "9999-12-31T23:59-01:00"},
            "until &#39;9999-12-31T23:59-01:00&#39; falls outside the years 0001-9999 in UTC",
        ),
    ],
    ids=[
        "before-huge",
        "before-negative",
        "since-year-0",
        "until-year-10000",
        "export-since",
        "export-until",
    ],
)
def test_an_audit_filter_no_row_or_date_can_have_is_a_400_page(
    site: Site, path: str, params: dict[str, str], says: str
) -> None:
    answer = signed_in(site.url, "alice", PASSWORD).get(path, params=params)
    assert answer.status_code == 400, answer.text[:300]
    assert says in answer.text
