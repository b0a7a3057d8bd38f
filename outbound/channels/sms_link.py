"""The SMPP link's socket: TCP to the SMSC, wrapped in TLS when ``[sms] tls`` is on.

smpplib would wrap the socket without the host name, which a checking context refuses, and
report any failure as "Connection refused"; here the host name is checked and a failure names
its cause (e.g. the certificate verify failure), in one line.
"""

from __future__ import annotations

import socket
import ssl


class LinkError(OSError):
    """The SMSC could not be reached or the TLS handshake failed; the message says why."""


def open_link(host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> socket.socket:
    """A connected socket to the SMSC (TLS-wrapped when ``tls``), Nagle off."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise LinkError(
            f"connection failed ({type(exc).__name__}: {exc.strerror or exc})"
        ) from None
    # small PDUs answered one by one: without TCP_NODELAY each submit waits on Nagle (~10 ms)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except OSError as exc:  # ssl.SSLError included
        sock.close()
        why = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
        raise LinkError(f"TLS handshake failed: {why}") from None


def link_error(exc: BaseException) -> str:
    """An exception's message; smpplib raises an empty ``ConnectionError`` from the socket
    error (e.g. the TLS alert of an SMSC that wanted a client certificate): then that one's."""
    cause = exc.__cause__ or exc.__context__
    return str(exc) or (f"{type(cause).__name__}: {cause}" if cause else type(exc).__name__)
