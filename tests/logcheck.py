"""What a log at ``-vv`` must never show, and a fixture that runs a test with logs at ``-vv``.

``leaks(text, secrets)`` names every unmasked E.164 number, push endpoint token, bearer or
VAPID token, JWT, wire hex dump and known secret (plain or hex-encoded, as smpplib dumps
PDUs) in ``text``. ``logs_at_debug()`` is what ``outbound -vv`` configures (root at DEBUG, the
masking formatter, the wire-level libraries at WARNING), writing into a buffer the test checks
when it ends.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from outbound.domain.masking import QUIET_LIBRARIES, masking_handler, quiet_libraries

#: what cannot appear in a masked line (masking leaves ``*`` or ``…`` in each of these)
PATTERNS = {
    "E.164 number": re.compile(r"\+\d{8,15}"),
    "push endpoint token": re.compile(r"https?://[^/\s\"'<>]+/[^\s\"'<>]*[A-Za-z0-9_:-]{16,}"),
    "bearer token": re.compile(r"(?i)\bbearer\s+(?!\*)[A-Za-z0-9._~+/=-]{4,}"),
    "VAPID token": re.compile(r"(?i)\bvapid\s+t=(?!\*)"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}"),
    "hex dump": re.compile(r"\b[0-9a-f]{48,}\b"),
}


def leaks(text: str, secrets: Iterable[str] = ()) -> list[str]:
    """Every leak in ``text``, as ``kind: the line`` (empty when the text is clean)."""
    found: list[str] = []
    lines = text.splitlines()
    for line in lines:
        found += [f"{kind}: {line}" for kind, rx in PATTERNS.items() if rx.search(line)]
    for secret in {s for s in secrets if s}:
        forms = {secret, secret.encode().hex()}
        digits = secret.lstrip("+")
        if secret.startswith("+") and digits.isdigit():  # a number: also without the plus
            forms |= {digits, digits.encode().hex()}
        found += [
            f"secret {secret[:2]}…: {line}" for line in lines if any(f in line for f in forms)
        ]
    return found


@contextmanager
def logs_at_debug() -> Iterator[io.StringIO]:
    """Logging as ``outbound -vv`` sets it up, into a buffer; restored afterwards."""
    buffer = io.StringIO()
    handler = masking_handler(buffer)
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet_libraries(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
