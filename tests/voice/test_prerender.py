"""``outbound flow render`` fills the TTS cache; ``serve`` warns while it is not filled."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from outbound.cli.voice import prompt_sources
from outbound.config import load_settings
from outbound.voice.prerender import render_flows
from tests.conftest import require_tool
from tests.voice.conftest import VoiceEnv
from tests.voice.test_call_cli import OUTBOUND, ROOT

pytestmark = pytest.mark.slow


def _outbound(voice_env: VoiceEnv, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "--db", voice_env.db_url, *args]
    return subprocess.run(
        cmd, env=voice_env.env, cwd=voice_env.tmp, capture_output=True, text=True, timeout=120
    )


def test_flow_render_caches_every_static_prompt_once_and_check_then_finds_none_missing(
    voice_env: VoiceEnv,
) -> None:
    require_tool("espeak-ng")
    settings = load_settings(ROOT / "config", None, environ=voice_env.env)
    before = render_flows(*prompt_sources(settings), check=True)
    assert before.missing and before.rendered == 0
    done = _outbound(voice_env, "flow", "render", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    # 3 flows x 3 locales: every prompt without per-call fields, i.e. all but those counted
    assert out["rendered"] == len(before.missing) and out["per_call"] > 0
    cache = Path(voice_env.env["OUTBOUND_VOICE_TTS_CACHE_DIR"])
    files = {p: p.stat().st_mtime_ns for p in cache.glob("*.wav")}
    assert files
    again = _outbound(voice_env, "flow", "render", "--json")
    assert json.loads(again.stdout) == out
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.wav")} == files  # nothing re-rendered
    assert render_flows(*prompt_sources(settings), check=True).missing == []


def test_serve_with_dialers_warns_once_about_uncached_prompts(voice_env: VoiceEnv) -> None:
    voice_env.env["OUTBOUND_VOICE_DIALERS"] = "1"
    assert _outbound(voice_env, "db", "upgrade").returncode == 0
    done = _outbound(voice_env, "serve", "--role", "dialer", "--until-idle")
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if "not in the TTS cache" in line]
    assert len(warnings) == 1 and "outbound flow render" in warnings[0]
    assert _outbound(voice_env, "flow", "render").returncode == 0
    done = _outbound(voice_env, "serve", "--role", "dialer", "--until-idle")
    assert done.returncode == 0 and "not in the TTS cache" not in done.stderr
