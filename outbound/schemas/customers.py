"""Customer records: parsing and validation of imports (CSV / JSONL) and API upserts.

Every problem of every row is collected with its line number, so an operator fixes a file in
one pass; nothing is imported unless all rows are valid (or ``--skip-invalid``).
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import phonenumbers

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Channel, Purpose

_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2}|-[A-Z][a-z]{3})?$")
_SKU = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


@dataclass(frozen=True)
class OptIn:
    channel: Channel
    purpose: Purpose
    written: bool = False


@dataclass(frozen=True)
class CustomerRecord:
    external_id: str
    name: str = ""
    locale: str = "en-US"
    timezone: str | None = None
    phone_e164: str | None = None
    country: str | None = None
    preference: tuple[Channel, ...] = ()
    membership_tier: str | None = None
    membership_expires_on: date | None = None
    wishlist: tuple[str, ...] = ()
    push_endpoints: tuple[tuple[str, str], ...] = ()  # (kind, endpoint/token)
    push_keys: tuple[tuple[str, str, str], ...] = ()  # (endpoint, p256dh, auth) for webpush
    opt_ins: tuple[OptIn, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _split(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[;,>|]", str(value)) if part.strip()]


def parse_phone(raw: str, problems: list[FieldProblem]) -> tuple[str | None, str | None]:
    """Return (E.164, region) or record a problem. Only strict E.164 input is accepted."""
    shown = mask_phone(raw)
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        problems.append(
            FieldProblem("phone", shown, "is not a valid E.164 number; expected like +14155550123")
        )
        return None, None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != raw:
        problems.append(
            FieldProblem(
                "phone",
                shown,
                f"is not in E.164 form; write it as {mask_phone(e164)} "
                "(a plus sign and digits only, no spaces or punctuation)",
            )
        )
        return None, None
    return e164, phonenumbers.region_code_for_number(number)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value).strip()


def _channels(value: Any, problems: list[FieldProblem]) -> tuple[Channel, ...]:
    out: list[Channel] = []
    for item in _split(value):
        try:
            channel = Channel(item.lower())
        except ValueError:
            problems.append(
                FieldProblem("preference", item, "is not a channel; use push, sms, voice")
            )
            continue
        if channel in out:
            problems.append(FieldProblem("preference", item, "is listed twice"))
        out.append(channel)
    return tuple(out)


def _opt_ins(value: Any, problems: list[FieldProblem]) -> tuple[OptIn, ...]:
    out = []
    for item in _split(value):
        parts = item.lower().split(":")
        try:
            written = len(parts) == 3 and parts[2] == "written"
            if len(parts) not in (2, 3) or (len(parts) == 3 and not written):
                raise ValueError
            out.append(OptIn(Channel(parts[0]), Purpose(parts[1]), written))
        except ValueError:
            problems.append(
                FieldProblem(
                    "opt_in", item, "expected CHANNEL:PURPOSE[:written], e.g. sms:marketing"
                )
            )
    return tuple(out)


def _date(value: str, name: str, problems: list[FieldProblem]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(FieldProblem(name, value, "is not a date; expected YYYY-MM-DD"))
        return None


def validate_record(raw: Mapping[str, Any]) -> CustomerRecord:
    """Build a CustomerRecord or raise ValidationError listing every bad field."""
    problems: list[FieldProblem] = []
    external_id = _text(raw, "external_id")
    if not _EXTERNAL_ID.match(external_id):
        problems.append(
            FieldProblem("external_id", external_id, "is required: 1-128 of A-Z a-z 0-9 . _ : @ -")
        )
    phone, region = None, None
    if _text(raw, "phone"):
        phone, region = parse_phone(_text(raw, "phone"), problems)
    timezone = _text(raw, "timezone") or None
    if timezone and timezone not in _zones():
        problems.append(
            FieldProblem("timezone", timezone, "is not an IANA time zone; e.g. Europe/Berlin")
        )
    locale = _text(raw, "locale") or "en-US"
    if not _LOCALE.match(locale):
        problems.append(
            FieldProblem("locale", locale, "is not a locale; expected like en-US, zh-CN")
        )
    country = (_text(raw, "country") or region or "").upper() or None
    if country and (len(country) != 2 or not country.isalpha()):
        problems.append(FieldProblem("country", country, "is not ISO 3166 alpha-2; e.g. US, DE"))
    elif country and region and region != "001" and country != region:
        problems.append(
            FieldProblem("country", country, f"disagrees with the phone number's country {region}")
        )
    wishlist = tuple(_split(raw.get("wishlist")))
    problems.extend(
        FieldProblem("wishlist", sku, "is not a SKU (1-64 of A-Z a-z 0-9 . _ : -)")
        for sku in wishlist
        if not _SKU.match(sku)
    )
    endpoints = _push(raw, problems)
    push_keys = _push_keys(raw, problems)
    record = CustomerRecord(
        external_id=external_id,
        name=_text(raw, "name"),
        locale=locale,
        timezone=timezone,
        phone_e164=phone,
        country=country,
        preference=_channels(raw.get("preference"), problems),
        membership_tier=_text(raw, "membership_tier") or None,
        membership_expires_on=_date(
            _text(raw, "membership_expires_on"), "membership_expires_on", problems
        ),
        wishlist=tuple(dict.fromkeys(wishlist)),
        push_endpoints=endpoints,
        push_keys=push_keys,
        opt_ins=_opt_ins(raw.get("opt_in"), problems),
    )
    if problems:
        raise ValidationError(problems)
    return record


def _push(raw: Mapping[str, Any], problems: list[FieldProblem]) -> tuple[tuple[str, str], ...]:
    """``push_token`` (+ ``push_kind``) from a file row, or ``push_subscriptions`` from the API."""
    items: list[Any] = list(raw.get("push_subscriptions") or [])
    if _text(raw, "push_token"):
        items.append(
            {"kind": _text(raw, "push_kind") or "fcm", "endpoint": _text(raw, "push_token")}
        )
    out = []
    for i, item in enumerate(items):
        kind = str(item.get("kind", "fcm")).lower() if isinstance(item, Mapping) else ""
        endpoint = str(item.get("endpoint", "")).strip() if isinstance(item, Mapping) else ""
        if kind not in ("fcm", "webpush"):
            problems.append(
                FieldProblem(f"push_subscriptions[{i}].kind", kind, "must be fcm or webpush")
            )
        elif not endpoint or len(endpoint) > 2000:
            problems.append(
                FieldProblem(
                    f"push_subscriptions[{i}].endpoint",
                    "",
                    "is required (token or URL, at most 2000)",
                )
            )
        else:
            out.append((kind, endpoint))
    return tuple(out)


def _b64url_len(value: str) -> int:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error):
        return -1


def _push_keys(
    raw: Mapping[str, Any], problems: list[FieldProblem]
) -> tuple[tuple[str, str, str], ...]:
    """Web Push ``keys`` (RFC 8291): p256dh = an uncompressed P-256 point, auth = 16 bytes."""
    out = []
    for i, item in enumerate(raw.get("push_subscriptions") or []):
        keys = item.get("keys") if isinstance(item, Mapping) else None
        if not keys:
            continue
        p256dh, auth = str(keys.get("p256dh", "")), str(keys.get("auth", ""))
        if _b64url_len(p256dh) != 65:
            hint = "is not a base64url P-256 public key (65 bytes uncompressed)"
            problems.append(
                FieldProblem(f"push_subscriptions[{i}].keys.p256dh", p256dh[:100], hint)
            )
        elif _b64url_len(auth) != 16:
            hint = "is not a base64url 16-byte auth secret"
            problems.append(FieldProblem(f"push_subscriptions[{i}].keys.auth", auth[:100], hint))
        else:
            out.append((str(item.get("endpoint", "")).strip(), p256dh, auth))
    return tuple(out)


@dataclass(frozen=True)
class RowError:
    line: int
    error: ValidationError

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def read_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield (line number, raw mapping) from a CSV (header row) or JSONL file."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    obj = {"__error__": f"not valid JSON ({exc.msg} at column {exc.colno})"}
                yield number, obj if isinstance(obj, dict) else {"__error__": "not a JSON object"}
        return
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row


def parse_file(path: Path) -> tuple[list[tuple[int, CustomerRecord]], list[RowError]]:
    good: list[tuple[int, CustomerRecord]] = []
    bad: list[RowError] = []
    seen: dict[str, int] = {}
    for line, raw in read_rows(path):
        if "__error__" in raw:
            bad.append(RowError(line, ValidationError(str(raw["__error__"]))))
            continue
        try:
            record = validate_record(raw)
        except ValidationError as exc:
            bad.append(RowError(line, exc))
            continue
        if record.external_id in seen:
            problem = FieldProblem(
                "external_id", record.external_id, f"repeats line {seen[record.external_id]}"
            )
            bad.append(RowError(line, ValidationError([problem])))
            continue
        seen[record.external_id] = line
        good.append((line, record))
    return good, bad
