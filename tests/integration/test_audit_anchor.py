"""The audit chain against an attacker with full write access to the database but not the key.

Two attacks from issue 10: (a) edit an old row and recompute every later hash and the head;
(b) delete the last N rows and move the head back. Both pass a plain hash-chain check (shown
first in each test, so the test would fail if the attack were not real); the row MACs and a
signed checkpoint catch them. SQLite and PostgreSQL, real databases.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from sqlalchemy import select, update

from outbound import bootstrap
from outbound.domain.errors import ConfigError, ValidationError
from outbound.domain.values import Kind
from outbound.services.checkpoints import CheckpointError
from outbound.store import audit
from outbound.store.anchor import parse_checkpoint
from outbound.store.tables import audit_events
from tests.integration.helpers import (
    NY,
    add_customer,
    rewrite_chain_from,
    shipping,
    trigger,
    truncate_chain,
)

AppFactory = Callable[..., bootstrap.App]
KEY = "k" * 16 + "0123456789abcdef"  # 32 characters; the tests hold it, the "attacker" not


def _keyed(make_app: AppFactory) -> bootstrap.App:
    app = make_app(audit={"key": KEY})
    cid = add_customer(app, "C1", NY, preference="sms")
    for i in range(5):
        trigger(app, Kind.SHIPPING, cid, shipping(f"A{i}"))
    return app


def test_an_old_row_edited_with_every_later_hash_recomputed_fails_the_mac_check(
    make_app: AppFactory,
) -> None:
    app = _keyed(make_app)
    with app.engine.begin() as conn:
        assert audit.verify(conn, app.audit_key).signed == 6
        rewrite_chain_from(conn, 2)
    with app.engine.begin() as conn:
        assert audit.verify(conn).ok  # the plain hash chain cannot see it
        result = audit.verify(conn, app.audit_key)
    assert (result.ok, result.broken_at, result.checked) == (False, 2, 1)
    assert "MAC does not match" in result.problem


def test_a_rewrite_that_strips_every_mac_is_caught_by_the_checkpoint(make_app: AppFactory) -> None:
    app = _keyed(make_app)
    checkpoint = app.checkpoints().write("-")
    with app.engine.begin() as conn:
        rewrite_chain_from(conn, 2, strip_macs=True)
    with app.engine.begin() as conn:
        without = audit.verify(conn, app.audit_key)
        result = audit.verify(conn, app.audit_key, checkpoint)
    assert without.ok and without.unsigned == 6  # looks like a chain from before the key
    assert (result.ok, result.broken_at) == (False, checkpoint.seq)
    assert "differs from the checkpoint" in result.problem


def test_a_stripped_mac_after_signed_rows_is_reported(make_app: AppFactory) -> None:
    app = _keyed(make_app)
    with app.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq >= 4).values(mac=None))
    with app.engine.begin() as conn:
        result = audit.verify(conn, app.audit_key)
    assert (result.ok, result.broken_at) == (False, 4) and "MAC stripped" in result.problem


def test_a_deleted_tail_with_the_head_moved_back_fails_against_the_checkpoint(
    make_app: AppFactory,
) -> None:
    app = _keyed(make_app)
    checkpoint = app.checkpoints().write("-")
    with app.engine.begin() as conn:
        kept = truncate_chain(conn, 3)
    with app.engine.begin() as conn:
        keyed_only = audit.verify(conn, app.audit_key)
        result = audit.verify(conn, app.audit_key, checkpoint)
    assert keyed_only.ok  # MACs alone cannot tell a deleted tail from a short chain
    assert (result.ok, result.broken_at, result.checked) == (False, kept + 1, kept)
    assert f"saw seq {checkpoint.seq}: 3 events deleted from the tail" in result.problem


def test_a_chain_that_grew_after_the_checkpoint_still_matches_it(make_app: AppFactory) -> None:
    app = _keyed(make_app)
    checkpoint = app.checkpoints().write("-")
    trigger(app, Kind.SHIPPING, 1, shipping("LATER"))
    with app.engine.begin() as conn:
        result = audit.verify(conn, app.audit_key, checkpoint)
    assert result.ok and result.checked == checkpoint.seq + 1


def test_an_edited_or_foreign_checkpoint_is_refused(make_app: AppFactory, tmp_path: Any) -> None:
    app = _keyed(make_app)
    path = tmp_path / "cp.json"
    app.checkpoints().write(str(path))
    text = path.read_text()
    assert parse_checkpoint(text, KEY.encode(), "cp.json").seq == 6
    moved_back = json.dumps({**json.loads(text), "seq": 3})
    with pytest.raises(ValidationError, match="not signed by the configured audit key"):
        parse_checkpoint(moved_back, KEY.encode(), "cp.json")
    with pytest.raises(ValidationError, match="not signed by the configured audit key"):
        parse_checkpoint(text, b"another key entirely, 32+ characters", "cp.json")


def test_no_checkpoint_is_signed_over_a_rewritten_head(make_app: AppFactory) -> None:
    app = _keyed(make_app)
    with app.engine.begin() as conn:
        rewrite_chain_from(conn, 2)
    with pytest.raises(ValidationError, match="does not carry this key's MAC"):
        app.checkpoints().write("-")


def test_without_a_key_rows_are_unsigned_and_no_checkpoint_can_be_taken(
    make_app: AppFactory,
) -> None:
    app = make_app()
    add_customer(app, "C1", NY)
    with app.engine.begin() as conn:
        assert conn.execute(select(audit_events.c.mac)).scalars().all() == [None]
        result = audit.verify(conn, app.audit_key)
    assert result.ok and not result.keyed
    with pytest.raises(ConfigError, match="no audit key configured"):
        app.checkpoints().write("-")


def test_a_short_key_is_a_config_error_that_does_not_show_it(make_app: AppFactory) -> None:
    with pytest.raises(
        ConfigError, match="holds 9 characters; an audit key needs at least 32"
    ) as e:
        make_app(audit={"key": "too-short"})
    assert "too-short" not in str(e.value)


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []
    status = 201

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(body)
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Collector", (_Collector,), {"received": [], "status": 201})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://user:secret@127.0.0.1:{server.server_port}/v1/checkpoints?t=x", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_checkpoint_is_posted_to_an_http_endpoint(
    make_app: AppFactory, collector: tuple[str, type[_Collector]]
) -> None:
    url, handler = collector
    app = _keyed(make_app)
    sent = app.checkpoints().write(url)
    (body,) = handler.received
    assert parse_checkpoint(body.decode(), KEY.encode(), "POST body") == sent
    handler.status = 500
    with pytest.raises(CheckpointError, match="answered 500") as refused:
        app.checkpoints().write(url)
    assert "secret" not in str(refused.value) and "t=x" not in str(refused.value)
