"""Slow clients: a deadline for a request's head and one for its body, in uvicorn's HTTP protocol.

uvicorn's only timer is keep-alive, and any byte restarts it: a client that trickles one byte
a second holds its connection (and a file descriptor, and a slot of every limit) for as long
as it likes. Here each connection gets ``[api] header_timeout_seconds`` from its first byte — or
from the previous response — to the end of the request head, then ``[api]
body_timeout_seconds`` for the body. Whatever arrives meanwhile does not move the deadline.
When it passes, the connection is closed and one INFO line says why; a handler waiting for the
body sees the client as gone (``gate.read_body`` logs that, also one INFO line).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from outbound.api.deps import ApiDeps

log = logging.getLogger("outbound.api.slow")


class DeadlineH11(H11Protocol):
    """uvicorn's h11 protocol with head and body deadlines (class attributes, see
    ``protocol``)."""

    header_timeout: float = 10.0
    body_timeout: float = 20.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._timed: object = None  # the request cycle whose head has been seen

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start the next (pipelined) request at once
        if not self.transport.is_closing():
            if self.cycle is self._timed:
                self._arm(self.header_timeout, "request head")  # the next request's head
            self._follow()

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers a malformed request (a bad chunk in the body) with 400 and closes,
        but the handler may already be answering (a 415 before the body is read): the cycle
        is marked gone, so that answer is dropped instead of an ERROR traceback."""
        super().send_400_response(msg)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()

    def _follow(self) -> None:
        """Move from the head's deadline to the body's, and drop it when the body is in."""
        cycle = self.cycle
        if cycle is None or (cycle.response_complete and cycle is self._timed):
            return
        if cycle is not self._timed:
            self._timed = cycle
            if cycle.more_body:
                self._arm(self.body_timeout, "request body")
            else:
                self._disarm()
        elif not cycle.more_body:
            self._disarm()

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info(
            "closed the connection from %s: %s not received within %g s", client, what, seconds
        )
        self.transport.close()


def protocol(header_timeout: float, body_timeout: float) -> type[DeadlineH11]:
    """The protocol class for uvicorn's ``http=`` with these deadlines."""
    attrs = {"header_timeout": header_timeout, "body_timeout": body_timeout}
    return type("DeadlineH11", (DeadlineH11,), attrs)


def server_config(api: Any, app: ApiDeps, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's config for ``api`` with the deadlines of ``[api]`` in ``app``."""
    section = app.api
    http = protocol(section.header_timeout_seconds, section.body_timeout_seconds)
    return uvicorn.Config(
        api,
        http=http,
        log_level="warning",
        access_log=False,
        log_config=None,  # uvicorn's own handlers would bypass the masking formatter
        **kwargs,
    )
