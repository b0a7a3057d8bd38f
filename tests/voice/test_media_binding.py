"""``[voice] bind_address`` / ``public_address``: where SIP and RTP sockets are, what SDP says.

A plain UDP socket on loopback plays the callee: it reads the robot's INVITE (SDP offer and
Contact), looks up the RTP socket the offer names in ``/proc/net/udp`` while the call rings,
then answers 486 so the call ends. The robot is ``outbound call test`` (its own process).
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.voice.conftest import VoiceEnv
from tests.voice.test_call_cli import OUTBOUND, ROOT

pytestmark = pytest.mark.slow


def _udp_sockets() -> dict[int, str]:
    """Local UDP port -> bound IPv4 address, for every socket of this network namespace."""
    found: dict[int, str] = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        local = line.split()[1]
        addr_hex, port_hex = local.split(":")
        addr = socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1])
        found[int(port_hex, 16)] = addr
    return found


def _reply(invite: str, status: str) -> bytes:
    keep = [
        line
        for line in invite.split("\r\n")
        if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")
    ]
    return ("\r\n".join([f"SIP/2.0 {status}", *keep, "Content-Length: 0", "", ""])).encode()


def _offer(voice_env: VoiceEnv) -> tuple[str, dict[int, str]]:
    """Let the robot call a UDP socket; return its INVITE and the UDP sockets while ringing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(30)
        port = sock.getsockname()[1]
        cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "call", "test"]
        cmd += [f"sip:bind@127.0.0.1:{port}", "--flow", "shipping", "--json"]
        robot = subprocess.Popen(
            cmd, env=voice_env.env, cwd=voice_env.tmp, stdout=subprocess.PIPE, text=True
        )
        try:
            invite = ""
            while not invite.startswith("INVITE "):
                data, peer = sock.recvfrom(65535)
                invite = data.decode()
            sock.sendto(_reply(invite, "180 Ringing"), peer)
            sockets = _udp_sockets()
            sock.sendto(_reply(invite, "486 Busy Here"), peer)
            out, _ = robot.communicate(timeout=60)
        finally:
            if robot.poll() is None:
                robot.kill()
                robot.wait(5)
        assert robot.returncode == 0 and '"busy"' in out, out
        return invite, sockets


def _sdp(invite: str, field: str) -> str:
    found = re.search(rf"^{field}=(.*)$", invite, re.M)
    assert found, invite
    return found.group(1).strip()


def test_offer_c_line_and_rtp_socket_are_the_bound_loopback_address(voice_env: VoiceEnv) -> None:
    invite, sockets = _offer(voice_env)  # the default: bind_address = 127.0.0.1
    assert _sdp(invite, "c") == "IN IP4 127.0.0.1"
    rtp_port = int(_sdp(invite, "m").split()[1])
    assert sockets.get(rtp_port) == "127.0.0.1", (rtp_port, sockets.get(rtp_port))
    contact = re.search(r"^Contact:.*$", invite, re.M | re.I)
    assert contact and "@127.0.0.1:" in contact.group(0), invite


def test_public_address_is_advertised_while_sockets_stay_bound(voice_env: VoiceEnv) -> None:
    voice_env.env["OUTBOUND_VOICE_PUBLIC_ADDRESS"] = "192.0.2.10"  # TEST-NET-1: never routed
    started = time.monotonic()
    invite, sockets = _offer(voice_env)
    assert _sdp(invite, "c") == "IN IP4 192.0.2.10"
    rtp_port = int(_sdp(invite, "m").split()[1])
    assert sockets.get(rtp_port) == "127.0.0.1"
    contact = re.search(r"^Contact:.*$", invite, re.M | re.I)
    assert contact and "192.0.2.10" in contact.group(0), invite
    assert time.monotonic() - started < 60


def test_a_bind_address_that_is_not_an_ip_is_a_one_line_config_error(
    voice_env: VoiceEnv,
) -> None:
    voice_env.env["OUTBOUND_VOICE_BIND_ADDRESS"] = "localhost"
    cmd = [OUTBOUND, "--config-dir", str(ROOT / "config"), "call", "test"]
    cmd += ["sip:bind@127.0.0.1:5999", "--flow", "shipping"]
    done = subprocess.run(
        cmd, env=voice_env.env, cwd=voice_env.tmp, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "bind_address" in done.stderr and "'localhost'" in done.stderr, done.stderr
