"""The loopback push services now live in ``outbound.testing.peers`` (shared with the demo)."""

from outbound.testing.peers import (
    FcmService,
    Handler,
    Loopback,
    Pushed,
    Reply,
    UserAgent,
    WebPushService,
    b64url,
    fcm_error,
    schema_problem,
    unb64url,
)

__all__ = [
    "FcmService",
    "Handler",
    "Loopback",
    "Pushed",
    "Reply",
    "UserAgent",
    "WebPushService",
    "b64url",
    "fcm_error",
    "schema_problem",
    "unb64url",
]
