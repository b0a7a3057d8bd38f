"""Slow and vanishing clients against a real server: head and body deadlines, one INFO line."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from outbound import bootstrap
from outbound.api.signing import new_secret
from outbound.services.intake.sources import EVENT_TYPES, add_source
from outbound.store.tables import webhook_receipts
from tests.api.conftest import Server, start_server
from tests.integration.helpers import count

HEAD_SECONDS, BODY_SECONDS = 1.0, 1.5
#: how long the test waits for the server to act; far beyond the deadlines, for a busy machine
PATIENCE = 30.0
TRICKLE_EVERY = 0.1  # a byte per connection this often: the client's pace, not a wait for sync


class Records(logging.Handler):
    """Every record of the server's loggers (uvicorn's do not propagate to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def matching(self, text: str) -> list[logging.LogRecord]:
        return [r for r in self.records if text in r.getMessage()]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("outbound", "uvicorn", "uvicorn.error")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
    logging.getLogger("outbound").setLevel(logging.INFO)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


@pytest.fixture
def slow_server(make_app: Callable[..., bootstrap.App], records: Records) -> Iterator[Server]:
    app = make_app(
        api={"header_timeout_seconds": HEAD_SECONDS, "body_timeout_seconds": BODY_SECONDS}
    )
    with app.engine.begin() as conn:
        secret = new_secret()
        add_source(conn, "shop", list(EVENT_TYPES), 1000, secret=secret, now=app.clock(), actor="t")
    srv = start_server(app, secret)
    yield srv
    srv.uvicorn.should_exit = True


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setblocking(False)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""  # EOF (an answer before it would also end the test)
    except BlockingIOError:
        return False
    except OSError:
        return True


def _trickle(socks: list[socket.socket], first: bytes, then: bytes) -> float:
    """Send ``first`` on each socket, then ``then`` a byte at a time until the server has
    closed every one; the seconds that took (fails after PATIENCE)."""
    for sock in socks:
        sock.sendall(first)
    started, open_ = time.monotonic(), set(range(len(socks)))
    pace = threading.Event()
    while open_ and time.monotonic() - started < PATIENCE:
        for i in list(open_):
            if _closed_by_server(socks[i]):
                open_.discard(i)
                continue
            try:
                socks[i].send(then)
            except OSError:
                open_.discard(i)
        pace.wait(TRICKLE_EVERY)
    assert not open_, f"{len(open_)} trickling connections still open after {PATIENCE} s"
    return time.monotonic() - started


def test_hundred_connections_trickling_their_headers_are_closed_at_the_head_deadline(
    slow_server: Server, records: Records
) -> None:
    socks = [_connect(slow_server) for _ in range(100)]
    try:
        took = _trickle(socks, b"POST /v1/events HTTP/1.1\r\nhost: x\r\nx-slow: ", b"a")
    finally:
        for sock in socks:
            sock.close()
    assert took >= HEAD_SECONDS * 0.5  # the deadline, not an instant refusal, closed them
    assert len(records.matching("request head not received within 1 s")) == 100
    assert not [r for r in records.records if r.levelno >= logging.ERROR]


def test_a_body_trickled_slower_than_the_body_deadline_is_cut_off_and_nothing_is_written(
    slow_server: Server, records: Records
) -> None:
    head = (
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 5000\r\nwebhook-id: msg_1\r\nwebhook-timestamp: 1\r\n"
        b"webhook-signature: v1,x\r\n\r\n{"
    )
    socks = [_connect(slow_server) for _ in range(10)]
    try:
        _trickle(socks, head, b" ")
    finally:
        for sock in socks:
            sock.close()
    _wait_for(lambda: len(records.matching("went away after")) == 10)
    assert len(records.matching("request body not received within 1.5 s")) == 10
    assert not [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]
    assert count(slow_server.app, webhook_receipts) == 0


def test_a_client_that_hangs_up_mid_body_is_one_info_line_not_a_traceback(
    slow_server: Server, records: Records
) -> None:
    partial = b'{"type": "shipping.dispatched", '
    sock = socket.create_connection(_address(slow_server), timeout=10)
    sock.sendall(
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 1000\r\n\r\n" + partial
    )
    _wait_for(lambda: _head_seen(slow_server))
    sock.close()
    _wait_for(lambda: bool(records.matching("went away after")))
    (line,) = records.matching("went away after")
    assert line.levelno == logging.INFO and line.exc_info is None
    expected = f"{len(partial)} bytes of the body of POST /v1/events; nothing written"
    assert expected in line.getMessage()
    assert not [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _head_seen(server: Server) -> bool:
    """The server has a request in progress (its handler is reading the body)."""
    return any(p.cycle is not None for p in server.uvicorn.server_state.connections)  # type: ignore[attr-defined]


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline, pace = time.monotonic() + PATIENCE, threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "the server did not get there in time"
        pace.wait(0.02)


def test_a_malformed_chunked_body_is_a_400_and_no_error_traceback(
    slow_server: Server, records: Records
) -> None:
    """uvicorn answers the bad chunk with 400 while the handler is already answering 415 (no
    content type): that second answer is dropped, not logged as an ASGI ERROR."""
    sock = socket.create_connection(_address(slow_server), timeout=PATIENCE)
    sock.sendall(
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\nwebhook-id: a\r\nwebhook-timestamp: 1\r\n"
        b"webhook-signature: v1,a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"
    )
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    # a later request is served after the first one's handler has run to its end
    with socket.create_connection(_address(slow_server), timeout=PATIENCE) as probe:
        probe.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert probe.recv(4096).startswith(b"HTTP/1.1 200 ")
    assert records.matching("Invalid HTTP request received")
    assert not [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]
