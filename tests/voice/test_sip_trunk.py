"""SIP trunk registration against a registrar nobody here wrote: SIPp running
``sipp/uas_registrar.xml``, which challenges with 401 and checks the digest with ``verifyauth``.

``outbound call register`` registers as a dialer does, in its own process (one pjsua2 endpoint
per process), at ``-vv``: the password must not appear in anything it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from outbound.services.send.links import link_failures
from outbound.store.db import make_engine, upgrade
from tests.conftest import require_tool
from tests.voice.conftest import REFERENCE, ROOT, free_udp_port
from tests.voice.test_call_cli import OUTBOUND

USER, PASSWORD = "robot-trunk", "Tr0nk-p4ss-7781"


@dataclass
class Registrar:
    port: int
    proc: subprocess.Popen[bytes]

    def finished(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Registrar]:
    sipp = require_tool("sipp")
    scenario = tmp_path / "registrar.xml"
    xml = (REFERENCE / "uas_registrar.xml").read_text()
    scenario.write_text(xml.replace("@USER@", USER).replace("@PASSWORD@", PASSWORD))
    port = free_udp_port()
    cmd = [sipp, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port)]
    cmd += ["-m", "1", "-nostdin", "-timeout", "60s", "-trace_err"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield Registrar(port, proc)
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


def _register(
    tmp_path: Path, registrar: Registrar, password: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OUTBOUND_VOICE_SIP_REGISTRAR": f"sip:127.0.0.1:{registrar.port}",
        "OUTBOUND_VOICE_SIP_USER": USER,
        "OUTBOUND_VOICE_CALLER_ID": f"sip:{USER}@127.0.0.1",
        "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
    }
    secret = tmp_path / "sip-password"
    secret.write_text(password + "\n")
    env["OUTBOUND_VOICE_SIP_PASSWORD_FILE"] = str(secret)
    cmd = [OUTBOUND, "-vv", "--config-dir", str(ROOT / "config"), "call", "register", "--json"]
    return subprocess.run(
        [*cmd, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90
    )


def test_the_trunk_registration_answers_the_digest_challenge_and_refreshes_before_expiry(
    tmp_path: Path, registrar: Registrar
) -> None:
    done = _register(tmp_path, registrar, PASSWORD, "--refreshes", "1", "--wait", "40")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert (out["state"], out["code"], out["expires"]) == ("registered", 200, 12)
    assert out["registered"] == 2  # the first registration and its refresh
    # SIPp checked both digest answers (verifyauth) and saw the un-REGISTER: scenario passed
    assert registrar.finished() == 0
    assert PASSWORD not in done.stdout + done.stderr


def test_a_wrong_password_is_refused_and_reported_in_one_line_without_the_password(
    tmp_path: Path, registrar: Registrar
) -> None:
    done = _register(tmp_path, registrar, "wrong-" + PASSWORD, "--wait", "20")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert (out["state"], out["code"], out["reason"]) == ("failed", 403, "Forbidden")
    failed = [line for line in done.stderr.splitlines() if "SIP registration with" in line]
    assert len(failed) == 1 and "failed: 403 Forbidden" in failed[0], done.stderr[-3000:]
    assert PASSWORD not in done.stdout + done.stderr
    assert registrar.finished() != 0  # SIPp's verifyauth refused the digest: scenario failed


REPORTER = """
import sys, time
from outbound import bootstrap
from outbound.bootstrap.voice import registration_reporter, sip_config
from outbound.config import load_settings
from outbound.voice.sip import SipEngine

settings = load_settings(sys.argv[1], {"database": {"url": sys.argv[2]}})
app = bootstrap.build(settings)
engine = SipEngine(sip_config(settings), registration_reporter(app.engine, app.clock))
deadline = time.monotonic() + 20
while engine.registration.state not in ("failed", "registered") and time.monotonic() < deadline:
    engine.poll(20)
engine.shutdown()
app.close()
"""


def test_a_dialers_failed_registration_is_recorded_for_readiness(
    tmp_path: Path, registrar: Registrar
) -> None:
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    engine = make_engine(url)
    upgrade(engine)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OUTBOUND_VOICE_SIP_REGISTRAR": f"sip:127.0.0.1:{registrar.port}",
        "OUTBOUND_VOICE_SIP_USER": USER,
        "OUTBOUND_VOICE_SIP_PASSWORD": "wrong-" + PASSWORD,
        "OUTBOUND_VOICE_CALLER_ID": f"sip:{USER}@127.0.0.1",
        "OUTBOUND_VOICE_RTP_PORT": str(free_udp_port()),
    }
    done = subprocess.run(
        [sys.executable, "-c", REPORTER, str(ROOT / "config"), url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert link_failures(engine) == [
        f"sip registration sip:127.0.0.1:{registrar.port}: 403 Forbidden"
    ]
    engine.dispose()
