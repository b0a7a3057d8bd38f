"""What the SIP engine (``outbound.voice.sip``) is set up with, without pjsua2: its config, the
trunk registration's state, the process priority, where received audio goes.

``Registration.update`` is fed by pjsip's registration callback: one log line when the state
changes (registered, failed: the registrar's code and reason), a debug line per refresh.
Neither the password nor an Authorization header is ever part of a line.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbound.domain.masking import mask_text

log = logging.getLogger("outbound.voice.sip")

#: where the system keeps its CA bundle (Debian, Fedora); pjsip has no default of its own
SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
RETRY_SECONDS = 30  # pjsip registers again this long after a failure


@dataclass(frozen=True)
class SipConfig:
    caller_id: str = "sip:robot@127.0.0.1"
    sip_port: int = 0
    rtp_port: int = 20000
    registrar: str = ""
    sip_user: str = ""
    sip_password: str = ""
    clock_rate: int = 16000
    max_calls: int = 4
    bind_address: str = "127.0.0.1"  # SIP and RTP sockets ("0.0.0.0" = every interface)
    public_address: str = ""  # advertised in SDP c= and Contact (NAT); empty = bind_address
    realm: str = "*"  # the realm the credentials answer ("*": any)
    register_seconds: int = 300
    outbound_proxy: str = ""
    transport: str = "udp"  # udp | tcp | tls
    tls_ca_file: str = ""  # empty: the system's CA bundle
    srtp: str = "off"  # off | optional | mandatory


def ca_file(configured: str) -> str:
    """The CA bundle TLS checks the trunk's certificate with: the configured one, else the
    system's."""
    return configured or next((f for f in SYSTEM_CA_FILES if Path(f).is_file()), "")


@dataclass
class Registration:
    """The trunk registration as last reported by pjsip: ``state`` is ``off`` (no registrar),
    ``pending``, ``registered`` or ``failed`` (``code``/``reason``: the last answer)."""

    registrar: str
    state: str = "off"
    code: int = 0
    reason: str = ""
    expires: int = 0  # seconds the registrar granted
    registered: int = 0  # successful REGISTERs (the first and every refresh)
    at: float = 0.0  # time.time() of the last change

    def update(self, code: int, reason: str, expires: int) -> bool:
        """Take pjsip's report of one REGISTER; True when the state changed."""
        before = self.state
        self.code, self.reason, self.at = code, reason, time.time()
        where = mask_text(self.registrar)
        if 200 <= code < 300 and expires > 0:
            self.state, self.expires = "registered", expires
            self.registered += 1
            if before != "registered":
                log.info("SIP registered with %s for %ds", where, expires)
            else:
                log.debug("SIP registration with %s refreshed", where)
        elif 200 <= code < 300:
            self.state, self.expires = "off", 0  # unregistered at shutdown
        else:
            self.state = "failed"
            if before != "failed":
                log.error(
                    "SIP registration with %s failed: %d %s; retrying every %d s (check "
                    "[voice] sip_user, sip_password, sip_realm, sip_registrar)",
                    where,
                    code,
                    mask_text(reason),
                    RETRY_SECONDS,
                )
        return self.state != before

    def as_dict(self) -> dict[str, Any]:
        return {
            "registrar": self.registrar,
            "state": self.state,
            "code": self.code,
            "reason": self.reason,
            "expires": self.expires,
            "registered": self.registered,
        }


def media_priority(nice: int) -> bool:
    """Run this thread — and every thread it starts later, pjsua2's media clock among them — at
    ``nice`` (call before the endpoint exists). Audio is real time: on a machine busy with other
    work a media thread that waits for the CPU delivers the callee's words late and in bursts,
    and the recogniser hears something else (Asterisk offers ``-p`` for the same reason).
    Returns False, with one warning, where the process may not raise its priority."""
    if nice == 0:
        return True
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # Linux: this thread; new threads inherit it
    except PermissionError:
        log.warning(
            "voice: could not set the dialer's priority to nice %d (needs root or CAP_SYS_NICE); "
            "on a busy machine callers' speech may be misheard: set [voice] media_nice = 0 to "
            "silence this, or grant the capability",
            nice,
        )
        return False
    return True


_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for a moment: ``--json`` output must stay clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        _LIBC.fflush(None)  # pjlib printf()s into C stdio's buffer: out to stderr, now
        os.dup2(saved, 1)
        os.close(saved)


def rx_dir() -> Path:
    """Received audio goes through RAM where the machine has a tmpfs for it."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="outbound-rx-", dir=base))
