"""The callee's audio, read from the file pjmedia's recorder writes — no Python on the media thread.

A Python ``AudioMediaPort`` is called by pjmedia's conference clock for every 20 ms frame and
needs the GIL each time: on a busy machine the clock thread waits for it, the bridge falls
behind, bursts, and the jitter buffer drops audio (a "그만 그만" then arrives as noise that a
grammar maps onto "예"). Instead pjmedia's own WAV writer (C, in the media thread) appends the
received audio to a file, and the call's thread reads what is new whenever it looks.

Time is the audio's own clock: ``seconds`` of audio received, voice stretches measured in audio
seconds. A starved reader catches up with the backlog and sees the same timing a fast one does.
"""

from __future__ import annotations

import audioop  # C; deprecated in 3.13 (numpy or pjmedia's level meter replace it then)
import queue
import threading
import time
from collections import deque
from pathlib import Path

VOICED_RMS = 500  # 16-bit PCM RMS above which a 20 ms frame counts as speech
WAV_HEADER = 44  # pjmedia's PCM WAV writer: a plain 44-byte RIFF header, sizes filled at close
BRIDGE_PAUSE = 0.4  # a quieter stretch up to this long is a pause inside speech, not its end
HISTORY_FRAMES = 250  # 5 s kept, so a capture can start where a prompt ended, however late


class AudioTap:
    """Reads 16-bit mono PCM as pjmedia appends it; tracks speech; queues it while capturing."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.frame_bytes = rate // 50 * 2  # 20 ms
        self._frame_s = 0.02
        self._offset = WAV_HEADER
        self._rest = b""
        self._lock = threading.Lock()
        self.seconds = 0.0  # audio received so far
        self.voiced_total = 0.0  # audio seconds of speech received so far
        self.voiced_since = -1.0  # audio time the current speech stretch began (-1: silent)
        self.last_voice = -1.0  # audio time of the last voiced frame (-1: none yet)
        self.first_voice_at = 0.0  # monotonic time the first voiced frame was read (0: none)
        self.capture = False
        self.audio: queue.Queue[bytes] = queue.Queue()
        self._history: deque[tuple[float, bytes]] = deque(maxlen=HISTORY_FRAMES)

    def pump(self) -> int:
        """Read what the recorder appended; returns the number of new 20 ms frames."""
        with self._lock:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return 0
            self._offset += len(data)
            data = self._rest + data
            whole = len(data) - len(data) % self.frame_bytes
            self._rest = data[whole:]
            for i in range(0, whole, self.frame_bytes):
                self._note(data[i : i + self.frame_bytes])
            return whole // self.frame_bytes

    def _note(self, pcm: bytes) -> None:
        if audioop.rms(pcm, 2) >= VOICED_RMS:
            self.voiced_total += self._frame_s
            if self.voiced_since < 0 or self.seconds - self.last_voice > BRIDGE_PAUSE:
                self.voiced_since = self.seconds
            self.last_voice = self.seconds
            if not self.first_voice_at:
                self.first_voice_at = time.monotonic()
        self._history.append((self.seconds, pcm))
        self.seconds += self._frame_s
        if self.capture:
            self.audio.put(pcm)

    def speaking_for(self) -> float:
        """Audio seconds of continuous callee speech up to now (short pauses bridged)."""
        if self.voiced_since < 0 or self.seconds - self.last_voice > BRIDGE_PAUSE:
            return 0.0
        return self.seconds - self.voiced_since

    def silent_for(self) -> float:
        """Audio seconds since the last voiced frame (all of it when nobody spoke yet)."""
        return self.seconds - self.last_voice if self.last_voice >= 0 else self.seconds

    def start_capture(self, since: float) -> None:
        """Queue every frame from audio time ``since`` on (kept ones first); drop older ones."""
        with self._lock:
            while not self.audio.empty():
                self.audio.get_nowait()
            for at, pcm in self._history:
                if at >= since:
                    self.audio.put(pcm)
            self.capture = True

    def stop_capture(self) -> None:
        self.capture = False

    def remove(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)
