"""Shared set-up for the benchmarks: fresh migrated SQLite files, fast customer seeding, stats.

Customers are written with SQLAlchemy Core bulk inserts (executemany in large chunks), which is
far faster than ``outbound customer import`` and is not what is being measured.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import Engine, insert, text

from outbound import bootstrap
from outbound.config import Settings, load_settings
from outbound.domain.clock import Clock, system_clock
from outbound.domain.values import Channel
from outbound.store.db import make_engine, upgrade
from outbound.store.tables import customers, preferences, push_subscriptions

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Local hours inside which every channel's window is open in every jurisdiction of
#: config/policies.toml (the narrowest is 09:00-20:00), with hours of margin on both sides.
OPEN_FROM, OPEN_UNTIL = dtime(10), dtime(17)

#: (IANA zone, ISO country, locale). Spread over the UTC offsets so that at any hour some of
#: them are inside OPEN_FROM..OPEN_UNTIL; only those are used for a run.
PLACES: tuple[tuple[str, str, str], ...] = (
    ("Pacific/Honolulu", "US", "en-US"),
    ("America/Anchorage", "US", "en-US"),
    ("America/Los_Angeles", "US", "en-US"),
    ("America/Denver", "US", "en-US"),
    ("America/Chicago", "US", "en-US"),
    ("America/New_York", "US", "en-US"),
    ("America/Sao_Paulo", "BR", "pt-BR"),
    ("Europe/London", "GB", "en-GB"),
    ("Europe/Berlin", "DE", "de-DE"),
    ("Asia/Kolkata", "IN", "en-IN"),
    ("Asia/Shanghai", "CN", "zh-CN"),
    ("Asia/Seoul", "KR", "ko-KR"),
    ("Asia/Tokyo", "JP", "ja-JP"),
    ("Australia/Sydney", "AU", "en-AU"),
    ("Pacific/Auckland", "NZ", "en-NZ"),
)

SEED_CHUNK = 20_000
PHONES_PER_REGION = 500


@dataclass(frozen=True)
class Place:
    zone: str
    country: str
    locale: str
    phones: tuple[str, ...]


def open_places(now: datetime) -> list[Place]:
    """The places whose local time ``now`` is inside OPEN_FROM..OPEN_UNTIL (so nothing defers)."""
    rng = random.Random(20261126)
    out = []
    for zone, country, locale in PLACES:
        local = now.astimezone(ZoneInfo(zone)).time()
        if OPEN_FROM <= local < OPEN_UNTIL:
            out.append(Place(zone, country, locale, valid_phones(rng, country, PHONES_PER_REGION)))
    if not out:
        raise RuntimeError(f"no benchmark time zone is inside 10:00-17:00 at {now.isoformat()}")
    return out


def valid_phones(rng: random.Random, region: str, count: int) -> tuple[str, ...]:
    """``count`` distinct mobile numbers of ``region`` that phonenumbers validates (E.164)."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise RuntimeError(f"phonenumbers has no example mobile number for {region}")
    national = str(example.national_number)
    head = national[: len(national) - 4]
    found: set[str] = set()
    for _ in range(count * 50):
        number = phonenumbers.parse(f"+{example.country_code}{head}{rng.randrange(10_000):04d}")
        if phonenumbers.is_valid_number(number):
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
            if len(found) == count:
                break
    if not found:
        raise RuntimeError(f"could not generate a valid phone number for {region}")
    return tuple(sorted(found))


def fresh_engine(path: Path) -> Engine:
    """A new SQLite file at ``path``, migrated to head with the project's own engine settings."""
    remove_db(path)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".scheduler.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def checkpoint(engine: Engine) -> None:
    """Fold the WAL into the main file (before copying it, and between phases)."""
    # A raw connection: outside SQLAlchemy's BEGIN IMMEDIATE, in which a checkpoint can't run.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()
    engine.dispose()


def copy_db(src: Path, dst: Path) -> None:
    remove_db(dst)
    shutil.copyfile(src, dst)


_BASE_SETTINGS: list[Settings] = []


def settings_for(path: Path) -> Settings:
    """The repository's config dir (with its operator caps), pointed at ``path``; env ignored.

    Read once per process, so every phase of a run uses the same configuration.
    """
    return settings_for_url(f"sqlite:///{path}")


def settings_for_url(url: str) -> Settings:
    """``settings_for`` with any database URL (e.g. PostgreSQL)."""
    if not _BASE_SETTINGS:
        _BASE_SETTINGS.append(load_settings(CONFIG_DIR, environ={}))
    return _BASE_SETTINGS[0].override({"database": {"url": url}})


def build_app(path: Path, engine: Engine, clock: Clock = system_clock) -> bootstrap.App:
    """The composition root as ``outbound serve`` builds it, on an existing engine."""
    return bootstrap.build(settings_for(path), clock=clock, engine=engine)


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def seed_customers(engine: Engine, count: int, now: datetime, places: Sequence[Place]) -> None:
    """``count`` customers, all with a membership expiring in 1..13 days (UTC calendar).

    One in three ranks ``sms > voice``, one in three has a push subscription and ranks
    ``push > sms`` and the rest have no preference (default order: push > sms > voice, so SMS
    is chosen because they have no push subscription).
    """
    today: date = now.astimezone(UTC).date()
    tiers = ("silver", "gold", "platinum")
    for part in _chunks(count, SEED_CHUNK):
        rows: list[dict[str, Any]] = []
        for i in part:
            place = places[i % len(places)]
            rows.append(
                {
                    "id": i + 1,
                    "external_id": f"B{i + 1:08d}",
                    "name": f"Bench Customer {i + 1}",
                    "locale": place.locale,
                    "timezone": place.zone,
                    "phone_e164": place.phones[(i // len(places)) % len(place.phones)],
                    "country": place.country,
                    "membership_tier": tiers[i % 3],
                    "membership_expires_on": today + timedelta(days=1 + i % 13),
                    "attributes": {},
                    "created_at": now,
                }
            )
        prefs: list[dict[str, Any]] = []
        push: list[dict[str, Any]] = []
        for i in part:
            cid = i + 1
            if i % 3 == 0:
                prefs += [
                    {"customer_id": cid, "rank": 1, "channel": Channel.SMS.value},
                    {"customer_id": cid, "rank": 2, "channel": Channel.VOICE.value},
                ]
            elif i % 3 == 1:
                prefs += [
                    {"customer_id": cid, "rank": 1, "channel": Channel.PUSH.value},
                    {"customer_id": cid, "rank": 2, "channel": Channel.SMS.value},
                ]
                push.append(
                    {
                        "customer_id": cid,
                        "kind": "fcm",
                        "endpoint": f"fcm-token-{cid:08d}",
                        "keys": {},
                        "created_at": now,
                    }
                )
        with engine.begin() as conn:
            conn.execute(insert(customers), rows)
            if prefs:
                conn.execute(insert(preferences), prefs)
            if push:
                conn.execute(insert(push_subscriptions), push)


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start
