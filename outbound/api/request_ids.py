"""Request ids: each API request gets one (the client's ``X-Request-ID`` when it is a short
token, else a new one), carried by every log line of the request (``request_id`` in JSON logs)
and echoed in the ``X-Request-ID`` response header."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outbound.domain.logs import set_ids

HEADER = b"x-request-id"
_TOKEN = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER, b"")
        rid = given if _TOKEN.fullmatch(given) else uuid.uuid4().hex.encode()
        set_ids(request_id=rid.decode())

        async def echoed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, rid)]
            await send(message)

        await self.app(scope, receive, echoed)
