"""One table of bad input, fed through every edge that takes it: the webhook API (real uvicorn,
signed), ``outbound send``, ``outbound campaign create`` and ``outbound customer import`` (CSV
and JSONL). Each edge must refuse the row with the same message: field, shown value, hint.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from outbound.cli.root import cli
from outbound.domain.errors import ValidationError
from tests.api.conftest import Server
from tests.conftest import CONFIG_DIR
from tests.integration.helpers import NY, add_customer

SHIPPING = {"order_id": "A1", "carrier": "DHL", "tracking_no": "T1", "eta": "2026-11-28"}
PRICE = {
    "sku": "S1",
    "title": "Kettle",
    "old_price": "20",
    "new_price": "15",
    "currency": "EUR",
    "url": "https://shop.example/k",
}


@dataclass(frozen=True)
class Customer:
    """A customer row: ``api`` is the JSON shape (API, JSONL); ``csv`` overrides CSV cells."""

    api: dict[str, Any]
    expected: str
    csv: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """A payload of ``kind`` (merged over a good one) for the API and ``outbound send``."""

    kind: str
    change: dict[str, Any]
    expected: str


CUSTOMERS = {
    "phone-not-e164": Customer(
        {"phone": "+49 151 12345678"},
        "phone: '+49*******5678' is not in E.164 form; write it as +49*******5678 "
        "(a plus sign and digits only, no spaces or punctuation)",
    ),
    "phone-invalid": Customer(
        {"phone": "+1555"}, "phone: '+****' is not a valid E.164 number; expected like +14155550123"
    ),
    "unknown-zone": Customer(
        {"timezone": "Mars/Base"},
        "timezone: 'Mars/Base' is not an IANA time zone; e.g. Europe/Berlin",
    ),
    "bad-locale": Customer(
        {"locale": "zh_CN"}, "locale: 'zh_CN' is not a locale; expected like en-US, zh-CN"
    ),
    "country-not-the-phones": Customer(
        {"phone": "+4915112345678", "country": "FR"},
        "country: 'FR' disagrees with the phone number's country DE",
    ),
    "unknown-channel": Customer(
        {"preference": ["sms", "fax"]},
        "preference: 'fax' is not a channel; use push, sms, voice",
        csv={"preference": "sms>fax"},
    ),
    "bad-sku": Customer(
        {"wishlist": ["SKU 1"]},
        "wishlist: 'SKU 1' is not a SKU (1-64 of A-Z a-z 0-9 . _ : -)",
        csv={"wishlist": "SKU 1"},
    ),
    "unknown-push-kind": Customer(
        {"push_subscriptions": [{"kind": "mpns", "endpoint": "tok-1"}]},
        "push_subscriptions[0].kind: 'mpns' must be 'fcm', 'webpush' or 'apns'",
        csv={"push_token": "tok-1", "push_kind": "mpns"},
    ),
    # issue 21 item 9: where the worker would POST (SSRF), refused at intake
    "push-endpoint-file-url": Customer(
        {"push_subscriptions": [{"kind": "webpush", "endpoint": "file:///etc/passwd"}]},
        "push_subscriptions[0].endpoint: '…sswd' has scheme 'file'; push endpoints are https "
        "URLs of a push service",
        csv={"push_token": "file:///etc/passwd", "push_kind": "webpush"},
    ),
    "push-endpoint-cloud-metadata": Customer(
        {
            "push_subscriptions": [
                {"kind": "webpush", "endpoint": "http://169.254.169.254/latest/meta-data/"}
            ]
        },
        "push_subscriptions[0].endpoint: 'http://169.254.169.254/…ata/' has scheme 'http'; "
        "push endpoints are https URLs of a push service",
        csv={"push_token": "http://169.254.169.254/latest/meta-data/", "push_kind": "webpush"},
    ),
    "push-endpoint-loopback": Customer(
        {
            "push_subscriptions": [
                {"kind": "webpush", "endpoint": "https://127.0.0.1:8443/latest/meta-data/iam"}
            ]
        },
        "push_subscriptions[0].endpoint: 'https://127.0.0.1:8443/…/iam' is on a loopback "
        "address (127.0.0.1); push services are public",
        csv={"push_token": "https://127.0.0.1:8443/latest/meta-data/iam", "push_kind": "webpush"},
    ),
    "push-endpoint-unlisted-host": Customer(
        {"push_subscriptions": [{"kind": "webpush", "endpoint": "https://push.evil.example/abc"}]},
        "push_subscriptions[0].endpoint: 'https://push.evil.example/…/abc' is on host "
        "'push.evil.example', not an allowed push service (fcm.googleapis.com, "
        "updates.push.services.mozilla.com, web.push.apple.com, api.push.apple.com, "
        "api.sandbox.push.apple.com, *.notify.windows.com); add it "
        "to [push] allowed_hosts if it is one",
        csv={"push_token": "https://push.evil.example/abc", "push_kind": "webpush"},
    ),
    "fcm-token-that-is-a-url": Customer(
        {"push_subscriptions": [{"kind": "fcm", "endpoint": "file:///etc/passwd"}]},
        "push_subscriptions[0].endpoint: '…sswd' is not an FCM registration token (no '/' or "
        "spaces); give kind webpush for a URL",
        csv={"push_token": "file:///etc/passwd", "push_kind": "fcm"},
    ),
}
EVENTS = {
    "bad-date": Event(
        "shipping",
        {"eta": "28/11/2026"},
        "data.eta: '28/11/2026' is not a date; expected YYYY-MM-DD",
    ),
    "unknown-field": Event(
        "shipping",
        {"colour": "red"},
        "data.colour: 'red' is not a shipping field; known: order_id, carrier, tracking_no, "
        "eta, shipment_id, signature_required, tracking_url",
    ),
    "bad-token": Event(
        "shipping",
        {"order_id": "A 1"},
        "data.order_id: 'A 1' may use only A-Z a-z 0-9 . _ : / # - (at most 64)",
    ),
    "not-a-json-number": Event(  # json.dumps writes NaN (it is not JSON): both refuse it
        "shipping",
        {"carrier": float("nan")},
        "data.carrier: 'NaN' is not a JSON number (NaN and Infinity are not JSON); "
        "send a finite number",
    ),
    "price-not-lower": Event(
        "price_drop", {"new_price": "25.0"}, "data.new_price: '25' is not lower than old_price 20"
    ),
    "bad-currency": Event(
        "price_drop",
        {"currency": "usd"},
        "data.currency: 'usd' is not an ISO 4217 code; expected like USD, EUR, CNY",
    ),
    "price-beyond-bounds": Event(
        "price_drop",
        {"old_price": "1e999999"},
        "data.old_price: '1e999999' has more than 14 digits; expected like 19.99",
    ),
    "bad-url": Event(
        "price_drop",
        {"url": "ftp://shop.example/k"},
        "data.url: 'ftp://shop.example/k' is not an http(s) URL; expected like "
        "https://shop.example/p/123",
    ),
}
EVENT_TYPES = {"shipping": "shipping.dispatched", "price_drop": "price.dropped"}


def _path(loc: list[str | int]) -> str:
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def _api(server: Server, event: dict[str, Any]) -> str:
    response = server.post(event)
    assert response.status_code == 422, response.text
    return "; ".join(
        f"{_path(p['loc'][1:])}: {p['input']!r} {p['msg']}" for p in response.json()["detail"]
    )


def _cli(server: Server, *args: str) -> Result:
    base = ["--db", server.app.settings.database_url, "--config-dir", str(CONFIG_DIR)]
    return CliRunner(mix_stderr=False).invoke(cli, [*base, *args])


def _refused(result: Result) -> str:
    assert isinstance(result.exception, ValidationError), result.output
    return "; ".join(str(p) for p in result.exception.problems)


def _imported(server: Server, path: Path) -> str:
    result = _cli(server, "customer", "import", str(path))
    assert result.exit_code == 2 and "nothing imported" in result.stderr
    prefix = f"{path.name}: line "
    (line,) = [row for row in result.stderr.splitlines() if row.startswith(prefix)]
    return line.split(": ", 2)[2]  # after "<file>: line N: "


@pytest.mark.parametrize("case", list(CUSTOMERS.values()), ids=list(CUSTOMERS))
def test_bad_customer_is_refused_alike_by_the_api_and_csv_and_jsonl_imports(
    server: Server, tmp_path: Path, case: Customer
) -> None:
    record = {"external_id": "X1", **case.api}
    upsert = _api(server, {"type": "customer.upserted", "data": record})
    jsonl = tmp_path / "customers.jsonl"
    jsonl.write_text(json.dumps(record) + "\n", encoding="utf-8")
    cells = {k: v for k, v in record.items() if not isinstance(v, list)} | case.csv
    table = tmp_path / "customers.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(cells))
        writer.writeheader()
        writer.writerow(cells)
    assert upsert == f"data.{case.expected}"
    assert _imported(server, table) == _imported(server, jsonl) == case.expected


@pytest.mark.parametrize("case", list(EVENTS.values()), ids=list(EVENTS))
def test_bad_payload_is_refused_alike_by_the_api_and_send_and_campaigns(
    server: Server, case: Event
) -> None:
    add_customer(server.app, "C1", NY)
    good = SHIPPING if case.kind == "shipping" else PRICE
    payload = {**good, **case.change}
    data = payload | ({"customer": "C1"} if case.kind == "shipping" else {})
    by_api = _api(server, {"type": EVENT_TYPES[case.kind], "data": data})
    by_cli = _refused(
        _cli(server, "send", case.kind, "--customer", "C1", "--data", json.dumps(payload))
    )
    assert by_api == by_cli == case.expected
    if case.kind == "price_drop":  # a campaign's params are the same fields, minus the SKU
        params = {k: v for k, v in payload.items() if k != "sku"}
        created = _cli(
            server,
            *("campaign", "create", "drop", "--kind", "price_drop", "--schedule", "0 9 * * *"),
            *("--timezone", "UTC", "--segment", '{"wishlist_sku": "S1"}'),
            *("--params", json.dumps(params)),
        )
        assert _refused(created).replace("params.", "data.", 1) == case.expected
