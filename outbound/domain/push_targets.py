"""Where a push request may go: https to an allow-listed push service on a public address.

A Web Push endpoint is a URL a browser (or an attacker posing as the shop) hands us, so without
a rule the worker POSTs wherever it says: ``http://169.254.169.254/latest/meta-data/``,
``http://127.0.0.1:6379/``, ``file:///etc/passwd``. ``PushTargets`` is that rule, applied
twice: at intake (``customer.upserted``, CSV / JSONL import: a clear per-row error) and at
send, where the address the client actually connects to is checked again after DNS resolution
(a name that resolved to a public address at intake may resolve to 127.0.0.1 later: DNS
rebinding). The allow-list holds the push services browsers use; ``[push] allowed_hosts``
replaces it, ``[push] allow_loopback`` lets the loopback test peers and the demo through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

#: FCM, Mozilla autopush (Firefox), Apple (Safari), Microsoft WNS (Edge on Windows)
DEFAULT_PUSH_HOSTS: tuple[str, ...] = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    "api.push.apple.com",  # APNs (token-based, HTTP/2)
    "api.sandbox.push.apple.com",
    "*.notify.windows.com",
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_kind(address: Address) -> str | None:
    """Why a request must not go to ``address`` (``loopback``, ``private``, …), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if hit:
            return kind
    return None if address.is_global else "non-public"


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class PushTargets:
    """The push services a request may go to (``[push] allowed_hosts``, ``allow_loopback``)."""

    allowed_hosts: tuple[str, ...] = DEFAULT_PUSH_HOSTS
    #: tests and the demo: http:// and 127.0.0.0/8, ::1, localhost (never in production)
    allow_loopback: bool = False

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            pattern = pattern.lower().rstrip(".")
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return self.allow_loopback and self._loopback(host)

    def _loopback(self, host: str) -> bool:
        if host == "localhost":
            return True
        address = _literal(host)
        return address is not None and address_kind(address) == "loopback"

    def address_problem(self, address: str) -> str | None:
        """Why a connection to ``address`` (an IP, as resolved or connected) is refused."""
        parsed = _literal(address.split("%", 1)[0])
        if parsed is None:
            return f"{address!r} is not an IP address"
        kind = address_kind(parsed)
        if kind is None or (kind == "loopback" and self.allow_loopback):
            return None
        return f"resolves to a {kind} address ({parsed}); push services are public"

    def url_problem(self, url: str) -> str | None:
        """Why a push request must not be sent to ``url``, or None. The text never repeats
        the URL (a capability); callers name it masked."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            return "is not a URL; expected like https://fcm.googleapis.com/…"
        loopback_http = self.allow_loopback and parts.scheme == "http" and self._loopback(host)
        if parts.scheme != "https" and not loopback_http:
            return (
                f"has scheme {parts.scheme or 'none'!r}; push endpoints are https URLs "
                "of a push service"
            )
        if not host:
            return "has no host; expected like https://fcm.googleapis.com/…"
        if parts.username is not None or parts.password is not None:
            return "carries a user name or password; push endpoints never do"
        address = _literal(host)
        kind = address_kind(address) if address is not None else None
        if kind is not None and not (kind == "loopback" and self.allow_loopback):
            return f"is on a {kind} address ({address}); push services are public"
        if not self.host_allowed(host):
            return (
                f"is on host {host!r}, not an allowed push service "
                f"({', '.join(self.allowed_hosts)}); add it to [push] allowed_hosts if it is one"
            )
        return None

    def endpoint_problem(self, kind: str, endpoint: str) -> str | None:
        """Intake's check of one subscription: a Web Push endpoint by ``url_problem``; an FCM
        registration token is sent in the body to the FCM URL, but never looks like a URL."""
        if kind == "webpush":
            return self.url_problem(endpoint)
        if "/" in endpoint or any(c.isspace() for c in endpoint):
            return (
                "is not an FCM registration token (no '/' or spaces); give kind webpush for a URL"
            )
        return None
