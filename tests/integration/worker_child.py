"""A dispatch worker process with a slow provider, for kill -9 tests.

Run by path: ``python tests/integration/worker_child.py --db URL --config-dir DIR --delay 0.05``.
It builds the app exactly like ``outbound serve`` does (settings from the config dir and the
``OUTBOUND_*`` environment, real clock) and runs one Dispatcher until nothing is due, with the
embedded log channel behind an adapter that waits ``--delay`` seconds before every send, so a
batch is still in flight when the test kills the process.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from outbound import bootstrap
from outbound.channels.base import ChannelPort, Message
from outbound.config import load_settings
from outbound.domain.values import Channel


class SlowProvider:
    """Wraps a channel adapter: every send takes ``delay`` seconds before it reaches it."""

    def __init__(self, inner: ChannelPort, delay: float) -> None:
        self.channel = inner.channel
        self._inner = inner
        self._delay = delay

    def send(self, message: Message) -> Any:  # whatever the wrapped adapter answers
        time.sleep(self._delay)
        return self._inner.send(message)

    def close(self) -> None:
        self._inner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--config-dir", required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    app = bootstrap.build(load_settings(args.config_dir, {"database": {"url": args.db}}))
    channels: dict[Channel, ChannelPort] = {
        c: SlowProvider(adapter, args.delay) for c, adapter in app.log_channels().items()
    }
    poll = app.settings.worker.poll_seconds
    try:
        app.dispatcher(channels).run(threading.Event(), poll, until_idle=True)
    finally:
        app.close()


if __name__ == "__main__":
    main()
