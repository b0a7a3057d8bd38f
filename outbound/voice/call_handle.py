"""What the SIP engine's polling thread learns about one call, read by the call's own thread.

Kept apart from ``voice.sip`` (the only pjsua2 import): it holds pjsua2 objects only as opaque
references that the polling thread sets and clears.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from outbound.voice.tap import AudioTap


@dataclass
class CallHandle:
    """What the polling thread learns about one call; read by the call's own thread."""

    uri: str
    confirmed: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    media_ready: threading.Event = field(default_factory=threading.Event)
    codes: list[int] = field(default_factory=list)
    last_code: int = 0
    reason: str = ""
    ringing_at: float = 0.0  # first 180/183 (monotonic; 0 = not ringing yet)
    answered_at: float = 0.0
    digits: queue.Queue[str] = field(default_factory=queue.Queue)
    tap: AudioTap | None = None  # the callee's audio, once media is up
    xfer_code: int = 0
    xfer_done: threading.Event = field(default_factory=threading.Event)
    pj_call: Any = None
    recorder: Any = None
    player: Any = None

    def pump(self) -> AudioTap | None:
        """Read the callee's newest audio (any one thread per call); None before media."""
        tap = self.tap
        if tap is not None:
            tap.pump()
        return tap

    def speaking_for(self) -> float:
        """Audio seconds of continuous callee speech up to now (short pauses bridged)."""
        tap = self.pump()
        return tap.speaking_for() if tap is not None else 0.0
