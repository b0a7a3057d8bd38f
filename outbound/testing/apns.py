"""An APNs-shaped push service on loopback: HTTP/2 only (TLS, ALPN ``h2``), written to Apple's
"Sending notification requests to APNs" and "Establishing a token-based connection to APNs".

Every request's provider token is checked as Apple does: an ES256 JWT whose signature verifies
with the team's public key, ``kid`` = the key id, ``iss`` = the team id, ``iat`` not older than
an hour (``403 ExpiredProviderToken``) and not replaced within 20 minutes of the previous one
(``429 TooManyProviderTokenUpdates``). The headers (``apns-topic``, ``apns-push-type``,
``apns-priority``, ``apns-expiration``, ``apns-collapse-id``) and the payload are checked, and
the answer is ``200`` with ``apns-id`` or Apple's ``{"reason": ...}`` body.

Used by tests (``tests/push/test_apns.py``); never by the production path.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from outbound.testing.fcm_latency import Answer, Http2, Service
from outbound.testing.peers import unb64url
from outbound.testing.tls import self_signed

_DEVICE = re.compile(r"/3/device/([0-9a-fA-F]{64})")


def reason(status: int, why: str, **headers: str) -> Answer:
    body = json.dumps({"reason": why}).encode()
    return status, {"content-type": "application/json", **headers}, body


@dataclass
class ApnsService(Service):
    """Apple's rules and what was sent (``sent``: one dict per accepted notification)."""

    team_id: str = ""
    key_id: str = ""
    topic: str = ""
    public_key: ec.EllipticCurvePublicKey | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # reasons given, in order
    tokens: list[str] = field(default_factory=list)  # distinct provider tokens, in order
    unregistered: set[str] = field(default_factory=set)  # device tokens: 410 Unregistered
    bad: set[str] = field(default_factory=set)  # device tokens: 400 BadDeviceToken
    script: list[Answer] = field(default_factory=list)  # forced answers, first in first out
    _token_at: float = 0.0

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        self.answered()
        result = self._answer(method, path, headers, body)
        if result[0] != 200:
            self.refused.append(json.loads(result[2]).get("reason", ""))
        return result

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST":
            return reason(405, "MethodNotAllowed")
        found = _DEVICE.fullmatch(path)
        if not found:
            return (
                reason(404, "BadPath")
                if not path.startswith("/3/device/")
                else reason(400, "BadDeviceToken")
            )
        problem = self._token_problem(headers.get("authorization", ""))
        if problem:
            return problem
        if self.script:
            return self.script.pop(0)
        device = found.group(1)
        problem = self._header_problem(headers) or self._payload_problem(body)
        if problem:
            return problem
        if device in self.bad:
            return reason(400, "BadDeviceToken")
        if device in self.unregistered:
            return reason(410, "Unregistered")
        apns_id = headers.get("apns-id", "") or f"00000000-0000-0000-0000-{len(self.sent):012d}"
        self.sent.append({"device": device, "headers": headers, "payload": json.loads(body)})
        return 200, {"apns-id": apns_id}, b""

    def _token_problem(self, authorization: str) -> Answer | None:
        if not authorization.startswith("bearer "):
            return reason(403, "MissingProviderToken")
        token = authorization.removeprefix("bearer ")
        try:
            head, claims = self._verify(token)
        except (ValueError, KeyError, InvalidSignature):
            return reason(403, "InvalidProviderToken")
        if head.get("kid") != self.key_id or claims.get("iss") != self.team_id:
            return reason(403, "InvalidProviderToken")
        now = time.time()
        if not isinstance(claims.get("iat"), int) or claims["iat"] > now + 60:
            return reason(403, "InvalidProviderToken")
        if claims["iat"] < now - 3600:
            return reason(403, "ExpiredProviderToken")
        if not self.tokens or self.tokens[-1] != token:
            if self.tokens and now - self._token_at < 20 * 60:
                return reason(429, "TooManyProviderTokenUpdates")
            self.tokens.append(token)
            self._token_at = now
        return None

    def _verify(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        head, payload, signature = token.split(".")
        header = json.loads(unb64url(head))
        if header.get("alg") != "ES256" or self.public_key is None:
            raise ValueError("not ES256")
        raw = unb64url(signature)
        if len(raw) != 64:
            raise ValueError("an ES256 signature is 64 bytes")
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        self.public_key.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        claims: dict[str, Any] = json.loads(unb64url(payload))
        return header, claims

    def _header_problem(self, headers: dict[str, str]) -> Answer | None:
        topic = headers.get("apns-topic")
        if not topic:
            return reason(400, "MissingTopic")
        if topic != self.topic:
            return reason(400, "DeviceTokenNotForTopic")
        push_type = headers.get("apns-push-type", "")
        if push_type not in ("alert", "background"):
            return reason(400, "InvalidPushType")
        priority = headers.get("apns-priority", "10")
        if priority not in ("5", "10") or (push_type == "background" and priority != "5"):
            return reason(400, "BadPriority")
        if not headers.get("apns-expiration", "0").isdigit():
            return reason(400, "BadExpirationDate")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return reason(400, "BadCollapseId")
        return None

    @staticmethod
    def _payload_problem(body: bytes) -> Answer | None:
        if not body:
            return reason(400, "PayloadEmpty")
        if len(body) > 4096:
            return reason(413, "PayloadTooLarge")
        try:
            payload = json.loads(body)
        except ValueError:
            return reason(400, "BadPayload")
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return reason(400, "BadPayload")
        return None


class ApnsServer:
    """``ApnsService`` on 127.0.0.1 (a free port) on its own thread; ``url``, ``ca_file``."""

    def __init__(self, service: ApnsService, directory: Path) -> None:
        self.service = service
        cert, key = self_signed(directory)
        self.ca_file = str(cert)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["h2"])  # APNs speaks HTTP/2 only
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: Http2(service), "127.0.0.1", 0, ssl=context)
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
