"""The demo's status webhooks: a loopback receiver registered as an endpoint before anything
happens, and the delivery worker (as ``serve`` runs it) draining the outbox at the end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from outbound import bootstrap
from outbound.services.endpoints import manage
from outbound.services.endpoints.events import EVENT_TYPES
from outbound.testing.status_receiver import StatusReceiver


@contextmanager
def status_receiver(app: bootstrap.App) -> Iterator[StatusReceiver]:
    receiver = StatusReceiver().start()
    with app.engine.begin() as conn:
        receiver.secret = manage.add(
            conn,
            "demo-desk",
            receiver.url,
            list(EVENT_TYPES),
            include_phone=False,
            now=app.clock(),
            actor="demo",
        )
    try:
        yield receiver
    finally:
        receiver.stop()
        with app.engine.begin() as conn:  # its receiver is gone: nothing to retry later
            manage.set_enabled(conn, "demo-desk", False, now=app.clock(), actor="demo")


def deliver_status(
    app: bootstrap.App, receiver: StatusReceiver, say: Callable[[str], None], seconds: float = 20
) -> None:
    """Run the delivery worker until the endpoint's queue is empty; say what arrived."""
    stop = threading.Event()
    worker = threading.Thread(target=app.webhook_worker().run, args=(stop,), name="webhooks")
    worker.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            with app.engine.begin() as conn:
                if all(e["queued"] == 0 for e in manage.listing(conn)):
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    counts = ", ".join(f"{t} x{n}" for t, n in sorted(receiver.counts().items()))
    say(
        f"status webhooks: the loopback receiver verified {sum(receiver.counts().values())} "
        f"events with the standardwebhooks library ({receiver.rejected} rejected): {counts}"
    )
