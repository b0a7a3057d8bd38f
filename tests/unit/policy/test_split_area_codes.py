"""NANP area codes that cross a zone line give every zone they span (fail closed).

Zones per area code are written out by hand from the NANPA area code reports and the tz
database's county notes; the windows are worked out in the comments.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, time
from importlib import resources
from zoneinfo import ZoneInfo

import pytest

from outbound.policy.model import Window
from outbound.policy.quiet_hours import SPLIT_AREA_CODES, candidate_zones, next_open

US_CALLS = Window(time(8), time(21))


def _zone_names(phone: str) -> set[str]:
    return {z.key for z in candidate_zones(None, phone, None)}


@pytest.mark.parametrize(
    ("phone", "must_include"),
    [
        ("+18504321234", {"America/New_York", "America/Chicago"}),  # Pensacola (Central)
        ("+18506441234", {"America/New_York", "America/Chicago"}),  # Tallahassee (Eastern)
        ("+13085321234", {"America/Chicago", "America/Denver"}),  # North Platte (Central)
        ("+13086321234", {"America/Chicago", "America/Denver"}),  # Scottsbluff (Mountain)
        ("+19067741234", {"America/Detroit", "America/Menominee"}),  # Upper Peninsula
        ("+14234891234", {"America/New_York", "America/Chicago"}),  # east Tennessee
        ("+17012251234", {"America/Chicago", "America/Denver"}),  # North Dakota
        ("+15413421234", {"America/Los_Angeles", "America/Boise"}),  # Oregon / Malheur County
        ("+19285231234", {"America/Phoenix", "America/Denver"}),  # Arizona / Navajo Nation
        ("+18074751234", {"America/Toronto", "America/Winnipeg"}),  # NW Ontario
        ("+13067771234", {"America/Regina", "America/Edmonton"}),  # Saskatchewan / Lloydminster
        ("+12504891234", {"America/Vancouver", "America/Edmonton"}),  # BC / East Kootenay
    ],
)
def test_split_area_code_gives_every_zone_it_spans(phone: str, must_include: set[str]) -> None:
    assert must_include <= _zone_names(phone)


def test_area_code_inside_one_zone_keeps_its_one_zone() -> None:
    assert _zone_names("+14155550123") == {"America/Los_Angeles"}


def test_850_number_waits_for_0800_central_when_it_is_already_0830_eastern() -> None:
    # 2026-06-10 08:30 EDT = 12:30 UTC = 07:30 CDT: closed in Pensacola.
    # It opens at 08:00 CDT = 13:00 UTC (09:00 EDT, open in Tallahassee too).
    zones = candidate_zones(None, "+18506441234", None)
    now = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
    assert next_open(now, zones, US_CALLS) == datetime(2026, 6, 10, 13, 0, tzinfo=UTC)


def test_308_number_is_closed_at_2030_central_when_it_is_already_2130_mountain() -> None:
    # 2026-06-10 20:30 CDT = 01:30 UTC on the 11th = 19:30 MDT: still open in Scottsbluff,
    # open in North Platte. At 21:30 CDT (02:30 UTC) North Platte is closed; next common
    # opening is 08:00 MDT on the 11th = 14:00 UTC (09:00 CDT).
    zones = candidate_zones(None, "+13085321234", None)
    assert next_open(datetime(2026, 6, 11, 1, 30, tzinfo=UTC), zones, US_CALLS) is None
    later = datetime(2026, 6, 11, 2, 30, tzinfo=UTC)
    assert next_open(later, zones, US_CALLS) == datetime(2026, 6, 11, 14, 0, tzinfo=UTC)


def _table() -> dict[str, list[str]]:
    text = resources.files("outbound.policy").joinpath(SPLIT_AREA_CODES).read_text("utf-8")
    table: dict[str, list[str]] = tomllib.loads(text)["area_codes"]
    return table


def test_split_area_code_table_names_its_source_and_only_real_zones() -> None:
    text = resources.files("outbound.policy").joinpath(SPLIT_AREA_CODES).read_text("utf-8")
    assert "NANPA" in text and "tz database" in text
    for npa, zones in _table().items():
        assert len(npa) == 3 and npa.isdigit() and npa[0] in "23456789", npa
        assert len(zones) >= 2, npa
        for name in zones:
            ZoneInfo(name)  # raises for a name the tz database does not know


def test_split_area_code_table_covers_the_known_split_codes_and_their_overlays() -> None:
    known = {
        "850", "448", "812", "930", "574", "270", "364", "606", "423", "729", "906",
        "701", "605", "308", "620", "785", "208", "986", "541", "458", "775", "928", "907",
        "807", "306", "639", "474", "250", "778", "236", "672", "867", "418", "581", "367",
        "709", "879",
    }  # fmt: skip
    assert known <= set(_table())
    overlays = {"448": "850", "930": "812", "364": "270", "729": "423", "986": "208",
                "458": "541", "639": "306", "778": "250", "581": "418", "879": "709"}  # fmt: skip
    table = _table()
    assert {o: set(table[o]) for o in overlays} == {o: set(table[b]) for o, b in overlays.items()}
