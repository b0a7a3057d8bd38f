"""Schemathesis against the OpenAPI document the app exports, on a real server.

The document is ``create_app(app).openapi()`` — what ``outbound api openapi`` prints. Every
operation in it is fuzzed with schema-valid (positive) and schema-breaking (negative) requests,
sent over HTTP to uvicorn on a loopback port. Each request is signed the Standard Webhooks way
over the exact bytes sent, with the timestamp taken from the server's own (frozen) clock, so
requests get past the signature check and reach the schema, the database and the handlers.

Every response must pass schemathesis' own checks: no 5xx, only status codes the document
declares for the operation, a declared content type, and a body matching the declared schema.
A couple of customers and one notification are seeded, and generated requests sometimes name
them, so that some events are accepted (202) and some status look-ups find something (200).
Runs on SQLite and PostgreSQL (the ``db_url`` fixture). The bugs it found (a broken JSON body,
a 64-bit overflowing id and a NUL in text answered 5xx) are pinned as regressions at the end.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from outbound import bootstrap
from outbound.api.app import create_app
from outbound.api.signing import bodyless, new_secret, sign
from outbound.api.slow import server_config
from outbound.config import load_settings
from outbound.domain.values import Kind
from outbound.mains.serve import api_deps
from outbound.services.intake.sources import EVENT_TYPES, add_source
from outbound.testing.postgres import free_port
from tests.conftest import CONFIG_DIR
from tests.integration.helpers import BERLIN, NY, add_customer, shipping, trigger

MAX_EXAMPLES = 50  # per operation and generation mode; derandomized, so the same cases each run
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CUSTOMERS = ("FUZZ-NY", "FUZZ-BERLIN")


@dataclass
class FuzzServer:
    url: str
    app: bootstrap.App
    secret: str
    document: dict[str, Any]
    notification_id: int  # seeded, so some look-ups find it

    @property
    def on_postgresql(self) -> bool:
        return self.app.settings.database_url.startswith("postgresql")


def _start(app: bootstrap.App) -> tuple[uvicorn.Server, threading.Thread, str, dict[str, Any]]:
    deps = api_deps(app)
    api = create_app(deps, source_cache_seconds=0)
    port = free_port()
    server = uvicorn.Server(server_config(api, deps, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, name="fuzz-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return server, thread, f"http://127.0.0.1:{port}", api.openapi()


@pytest.fixture
def fuzz_server(make_app: Callable[..., bootstrap.App]) -> Iterator[FuzzServer]:
    app = make_app()
    with app.engine.begin() as conn:
        secret = new_secret()
        add_source(
            conn, "fuzz", list(EVENT_TYPES), 100_000, secret=secret, now=app.clock(), actor="test"
        )
    ny = add_customer(app, CUSTOMERS[0], NY, timezone="America/New_York")
    add_customer(app, CUSTOMERS[1], BERLIN, timezone="Europe/Berlin")
    # made by the fuzzing source, so reads of it are answered (another source's would be 404)
    seeded = trigger(app, Kind.SHIPPING, ny, shipping("FUZZ-SEED"), source="webhook:fuzz")
    server, thread, url, document = _start(app)
    try:
        yield FuzzServer(url, app, secret, document, seeded.notification_id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _signed_send(
    srv: FuzzServer, session: requests.Session, case: schemathesis.Case, body: bytes
) -> requests.Response:
    """Send ``case`` with ``body`` (serialized by _body) and a signature over those bytes, or
    for a GET over ``GET target`` as it goes on the wire."""
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    if case.body is not NOT_SET:
        headers["content-type"] = case.media_type or "application/json"
    request = requests.Request(
        case.method,
        srv.url + case.formatted_path,
        params=case.query or None,
        headers=headers,
        data=body if case.body is not NOT_SET else None,
    )
    prepared = session.prepare_request(request)
    bodyless_read = case.method.upper() == "GET"
    signed = bodyless(case.method, prepared.path_url) if bodyless_read else body
    prepared.headers.update(_headers(srv, signed))
    return session.send(prepared, timeout=30)


def _aim_at_seeded(srv: FuzzServer, case: schemathesis.Case, pick: int | None) -> None:
    """Point some generated requests at seeded data, so 202 and 200 paths are exercised too."""
    if pick is None:
        return
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        if "customer" in body["data"]:
            body["data"]["customer"] = CUSTOMERS[pick % len(CUSTOMERS)]
        if "external_id" in body["data"]:
            body["data"]["external_id"] = CUSTOMERS[pick % len(CUSTOMERS)]
    if "notification_id" in case.path_parameters:
        case.path_parameters["notification_id"] = srv.notification_id + pick


def _exported_document() -> dict[str, Any]:
    """What ``outbound api openapi`` prints (no database needed to build it)."""
    settings_ = load_settings(CONFIG_DIR, {"database": {"url": "sqlite://"}}, environ={})
    app = bootstrap.build(settings_, check_schema=False)
    try:
        return create_app(api_deps(app)).openapi()
    finally:
        app.close()


def _fuzz_params() -> list[Any]:
    """One (operation, mode) pair per operation of the exported document and generation mode.

    Negative mode needs something to break: operations without parameters or body get only
    positive mode.
    """
    params = []
    for path, item in _exported_document()["paths"].items():
        for method, spec in item.items():
            label = f"{method.upper()} {path}"
            params.append(pytest.param(label, schemathesis.GenerationMode.POSITIVE))
            if spec.get("parameters") or spec.get("requestBody"):
                params.append(pytest.param(label, schemathesis.GenerationMode.NEGATIVE))
    return params


@pytest.mark.parametrize(("label", "mode"), _fuzz_params())
def test_every_documented_operation_answers_within_its_documented_contract(
    fuzz_server: FuzzServer, label: str, mode: schemathesis.GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(fuzz_server.document)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the document the server exports"
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        pick=st.one_of(st.none(), st.integers(0, 3)),
    )
    def exchange(case: schemathesis.Case, pick: int | None) -> None:
        if mode is schemathesis.GenerationMode.POSITIVE:
            _aim_at_seeded(fuzz_server, case, pick)
        body = _body(case)
        response = _signed_send(fuzz_server, session, case, body)
        case.validate_response(response, checks=CHECKS)
        if _utf8(body):
            statuses[response.status_code] += 1
        else:  # Standard Webhooks signs UTF-8 text: such a body cannot be signed at all
            assert response.status_code == 401 and "not UTF-8" in response.text, response.text
            statuses[0] += 1

    with requests.Session() as session:
        exchange()
    print(f"{label} [{mode.value}]: {dict(sorted(statuses.items()))}")
    # every signable request was validly signed: a 401 means the fuzzer never got past the gate
    # (key 0 counts the bodies that are not UTF-8 and so cannot be signed)
    assert 401 not in statuses, f"signed requests refused: {dict(statuses)}"
    if label == "POST /v1/events" and mode is schemathesis.GenerationMode.POSITIVE:
        assert statuses[202], f"no generated event was accepted: {dict(statuses)}"


def test_served_document_is_the_exported_one(fuzz_server: FuzzServer) -> None:
    served = requests.get(f"{fuzz_server.url}/openapi.json", timeout=10).json()
    assert served == fuzz_server.document == _exported_document()


# Regressions: the smallest requests that once answered 5xx (found by the fuzzer above).


@pytest.mark.parametrize(
    "body",
    [b"{", b"", b"\x00", b'{"type": "shipping.dispatched", "data": {"customer": "\\ud800"}}'],
    ids=["truncated", "empty", "nul-byte", "lone-surrogate"],
)
def test_signed_body_that_is_not_json_is_a_documented_422(
    fuzz_server: FuzzServer, body: bytes
) -> None:
    response = _post_raw(fuzz_server, body)
    assert response.status_code == 422, f"{response.status_code} {response.text}"
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize("notification_id", [2**63, -(2**63) - 1], ids=["2^63", "-2^63-1"])
def test_notification_id_beyond_64_bits_is_a_client_error_not_a_server_error(
    fuzz_server: FuzzServer, notification_id: int
) -> None:
    path = f"/v1/notifications/{notification_id}"
    headers = _headers(fuzz_server, bodyless("GET", path))
    url = f"{fuzz_server.url}{path}"
    response = requests.get(url, headers=headers, timeout=30)
    assert response.status_code in (404, 422), f"{response.status_code} {response.text}"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "customer.upserted", "data": {"external_id": "NUL-1", "name": "a\u0000b"}},
        {
            "type": "consent.changed",
            "data": {
                "customer": CUSTOMERS[0],
                "action": "grant",
                "channel": "sms",
                "purpose": "all",
                "source": "web",
                "evidence": "form\u0000v3",
            },
        },
    ],
    ids=["upsert-name", "consent-evidence"],
)
def test_nul_character_in_a_text_field_is_never_a_server_error(
    fuzz_server: FuzzServer, event: dict[str, Any]
) -> None:
    response = _post_raw(fuzz_server, json.dumps(event).encode())
    assert response.status_code in (202, 422), f"{response.status_code} {response.text}"


def _body(case: schemathesis.Case) -> bytes:
    """The exact bytes to send (and sign) for ``case``."""
    if case.body is NOT_SET:
        return b""
    if isinstance(case.body, bytes):  # negative mode also sends raw, non-JSON payloads
        return case.body
    return json.dumps(case.body).encode()


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _headers(srv: FuzzServer, body: bytes) -> dict[str, str]:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(srv.app.clock().timestamp())  # the server's clock, not the wall clock
    # Standard Webhooks signs UTF-8 text: another body gets a placeholder the server refuses
    signature = sign(srv.secret, webhook_id, timestamp, body) if _utf8(body) else "v1,none"
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def _post_raw(srv: FuzzServer, body: bytes) -> requests.Response:
    headers = {**_headers(srv, body), "content-type": "application/json"}
    return requests.post(f"{srv.url}/v1/events", data=body, headers=headers, timeout=30)
