"""Fixtures of the status webhook tests: a loopback receiver, an app with quick retries, and the
delivery worker running in its own thread as ``serve`` runs it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from outbound import bootstrap
from outbound.services.endpoints import manage
from outbound.services.endpoints.events import EVENT_TYPES
from tests.endpoints.receiver import Receiver

AppFactory = Callable[..., bootstrap.App]
QUICK = {"poll_seconds": 0.05, "retry_seconds": [0, 0, 0, 0], "failure_limit": 3}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def add_endpoint(app: bootstrap.App, receiver: Receiver, name: str = "desk", **kw: object) -> str:
    events = kw.pop("events", EVENT_TYPES)
    url = str(kw.pop("url", receiver.url))
    with app.engine.begin() as conn:
        secret = manage.add(
            conn,
            name,
            url,
            list(events),  # type: ignore[call-overload]
            include_phone=bool(kw.pop("include_phone", False)),
            now=app.clock(),
            actor="test",
        )
    receiver.secret = secret
    return secret


@contextmanager
def delivering(app: bootstrap.App) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=app.webhook_worker().run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive()
