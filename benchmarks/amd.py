"""Answering-machine detection benchmark: accuracy and time-to-decision on synthesised greetings.

The set: people answering ("Hello?", "Yes, hello?", "Hi, who is this?", "여보세요", "喂，你好"),
answering machines (long greetings, with a beep or without) and silent answers, each in several
espeak-ng voices and speeds. Every clip goes through the phone line's path: 8 kHz, G.711 μ-law
encode and decode, then the robot's 16 kHz bridge rate, and is fed to
``outbound.voice.amd.Detector`` in 20 ms frames like a live call; machines with a beep also
through ``BeepDetector`` (where the message would start, against where the beep really ends).

Counted per expected class: exact verdicts, verdicts *handled right* (a person judged unsure
still hears the prompt, so unsure counts as right for people and silence; a machine judged
unsure or human gets the prompt instead of the message, which is wrong), time to decision
(p50/p90 of analysed audio) and the CPU time per analysed second.

Run: ``.venv/bin/python -m benchmarks.amd``. Writes ``benchmarks/results/amd.json``.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from collections import Counter, defaultdict
from typing import Any

from benchmarks.common import RESULTS_DIR
from outbound.testing.callees import espeak_pcm, silence_pcm, tone_pcm
from outbound.voice.amd import AmdParams, BeepDetector, Detector, frames

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib through 3.12: G.711 and resampling without a dependency

HUMANS = [
    ("Hello?", ("en-us", "en-us+f3", "en-gb")),
    ("Yes, hello?", ("en-us", "en-us+f3")),
    ("Hi, who is this?", ("en-us", "en-gb")),
    ("여보세요", ("ko",)),
    ("喂，你好", ("cmn",)),
]
MACHINES = [
    (
        "Hi, you have reached the Miller family. We cannot take your call right now. "
        "Please leave your name and number after the tone.",
        ("en-us", "en-us+f3", "en-gb"),
    ),
    ("The person you are calling is not available. Please leave a message.", ("en-us",)),
    ("안녕하세요 지금은 전화를 받을 수 없습니다 삐 소리가 나면 메시지를 남겨 주세요", ("ko",)),
    ("您好，您拨打的用户暂时无法接听，请在提示音后留言", ("cmn",)),
]
SPEEDS = (150, 190)
BEEPS = (1000.0, 1400.0, 440.0)


def phone_line(pcm16k: bytes) -> bytes:
    """16 kHz PCM as heard through a G.711 μ-law call, back at the bridge's 16 kHz."""
    narrow, _ = audioop.ratecv(pcm16k, 2, 1, 16000, 8000, None)
    decoded = audioop.ulaw2lin(audioop.lin2ulaw(narrow, 2), 2)
    wide, _ = audioop.ratecv(decoded, 2, 1, 8000, 16000, None)
    return bytes(wide)


def clips() -> list[tuple[str, str, bytes, float | None]]:
    """(expected, label, audio, beep end in seconds or None)."""
    out: list[tuple[str, str, bytes, float | None]] = []
    for text, voices in HUMANS:
        for voice in voices:
            for speed in SPEEDS:
                pcm = silence_pcm(0.4) + espeak_pcm(text, voice, speed) + silence_pcm(4)
                out.append(("human", f"{voice}@{speed} {text}", pcm, None))
    for n, (text, voices) in enumerate(MACHINES):
        for voice in voices:
            for speed in SPEEDS:
                greeting = silence_pcm(0.3) + espeak_pcm(text, voice, speed) + silence_pcm(0.5)
                hz = BEEPS[n % len(BEEPS)]
                beep_end = len(greeting) / 32000 + 0.5
                pcm = greeting + tone_pcm(hz, 0.5) + silence_pcm(2)
                out.append(("machine", f"{voice}@{speed} beep {hz:g} Hz", pcm, beep_end))
                out.append(("machine", f"{voice}@{speed} no beep", greeting + silence_pcm(3), None))
    for seconds in (6.0, 8.0):
        out.append(("silence", f"silence {seconds:g} s", silence_pcm(seconds), None))
    return out


def analyse(pcm: bytes, beep_expected: float | None) -> dict[str, Any]:
    detector = Detector(AmdParams())
    started = time.process_time()
    for frame in frames(pcm, 16000):
        if detector.feed(frame) is not None:
            break
    verdict = detector.close()
    cpu = time.process_time() - started
    row: dict[str, Any] = {**verdict.detail(), "cpu_per_audio_s": cpu / (verdict.decided_ms / 1000)}
    if beep_expected is not None:
        beep = BeepDetector(16000)
        at = next(
            (i * 0.02 for i, f in enumerate(frames(pcm, 16000)) if beep.feed(f)),
            None,
        )
        row["beep_error_s"] = None if at is None else round(at - beep_expected, 3)
    return row


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["expected"]].append(r)
    summary: dict[str, Any] = {}
    for expected, group in sorted(by.items()):
        results = Counter(r["result"] for r in group)
        if expected == "machine":
            right = results["machine"]
        else:
            right = results["human"] + results["unsure"]
        times = sorted(r["decided_ms"] for r in group)
        summary[expected] = {
            "clips": len(group),
            "verdicts": dict(results),
            "exact": round(
                results[expected if expected != "silence" else "unsure"] / len(group), 3
            ),
            "handled_right": round(right / len(group), 3),
            "decided_ms_p50": statistics.median(times),
            "decided_ms_p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        }
    beeps = [r for r in rows if "beep_error_s" in r]
    found = [abs(r["beep_error_s"]) for r in beeps if r["beep_error_s"] is not None]
    summary["beep"] = {
        "clips": len(beeps),
        "found": len(found),
        "max_abs_error_s": max(found) if found else None,
    }
    cpu = [r["cpu_per_audio_s"] for r in rows]
    summary["cpu_seconds_per_audio_second_p50"] = round(statistics.median(cpu), 5)
    return summary


def main() -> None:
    rows = []
    for expected, label, pcm, beep_end in clips():
        row = analyse(phone_line(pcm), beep_end)
        rows.append({"expected": expected, "clip": label, **row})
    summary = _summary(rows)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "amd.json").write_text(json.dumps({"summary": summary, "clips": rows}, indent=1))
    for expected in ("human", "machine", "silence"):
        s = summary[expected]
        print(
            f"{expected:8} {s['clips']:3} clips  exact {s['exact']:.0%}  handled right "
            f"{s['handled_right']:.0%}  decision p50 {s['decided_ms_p50']:.0f} ms  "
            f"p90 {s['decided_ms_p90']:.0f} ms  {s['verdicts']}"
        )
    b = summary["beep"]
    print(f"beep     {b['clips']:3} clips  found {b['found']}  max error {b['max_abs_error_s']} s")
    print(f"CPU per analysed audio second (p50): {summary['cpu_seconds_per_audio_second_p50']} s")
    wrong = [r for r in rows if (r["expected"] == "machine") != (r["result"] == "machine")]
    for r in wrong:
        print(f"  missed: {r['expected']} {r['clip'][:60]} -> {r['result']} ({r['cause']})")


if __name__ == "__main__":
    main()
