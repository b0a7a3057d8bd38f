"""Push services on loopback, written to the protocols (not to our client).

Used by the push tests (``tests/push``), ``outbound demo`` and the benchmarks; never by the
production path.

``WebPushService`` decrypts every message (RFC 8188 aes128gcm via http_ece, with the user
agent's private key made here) and checks the VAPID JWT (RFC 8292) with ``cryptography``.
``FcmService`` implements FCM HTTP v1 ``projects.messages.send``: Bearer auth, the message
schema, FcmError bodies (UNREGISTERED, QUOTA_EXCEEDED with Retry-After, INTERNAL), and the OAuth
JWT-bearer token endpoint a service account uses.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Reply:
        return cls(
            status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers}
        )


Handler = Callable[[str, dict[str, str], bytes], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the listen backlog: a window of new connections at once fits


class Loopback:
    """A threaded HTTP/1.1 server on 127.0.0.1 that answers POSTs with ``handle``.

    ``delay`` (seconds) holds every answer back; ``max_in_flight`` is the most requests it
    held at once (more than one: the client had several in flight)."""

    def __init__(self, handle: Handler) -> None:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.requests += 1
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    if outer.delay:
                        time.sleep(outer.delay)
                    reply = handle(self.path, headers, body)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST  # a GET has no body (Content-Length 0); ``handle`` sees its path

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.lock = threading.Lock()
        self.requests = self.in_flight = self.max_in_flight = 0
        self.delay = 0.0
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Web Push ---------------------------------------------------------------------------------


@dataclass
class UserAgent:
    """One browser subscription: its ECDH key pair and auth secret (RFC 8291 §2-3)."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}


@dataclass
class Pushed:
    name: str
    headers: dict[str, str]
    claims: dict[str, Any]
    text: str


class WebPushService:
    def __init__(self, vapid_public: bytes) -> None:
        self.vapid_public = vapid_public
        self.agents: dict[str, UserAgent] = {}
        self.scripted: dict[str, Reply] = {}  # subscription name -> forced answer
        self.pushed: list[Pushed] = []
        self.refused: list[str] = []
        self.http = Loopback(self.handle)

    def subscribe(self, name: str) -> dict[str, Any]:
        self.agents[name] = agent = UserAgent(name)
        return {"kind": "webpush", "endpoint": f"{self.http.url}/push/{name}", "keys": agent.keys()}

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        match = re.fullmatch(r"/push/([\w-]+)", path)
        agent = self.agents.get(match.group(1)) if match else None
        if agent is None:
            return Reply(404)
        try:
            claims = self.check_vapid(headers.get("authorization", ""))
        except (ValueError, InvalidSignature) as exc:
            self.refused.append(str(exc))
            return Reply(401, str(exc).encode())
        if agent.name in self.scripted:
            return self.scripted[agent.name]
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            self.refused.append("missing Content-Encoding: aes128gcm or TTL")
            return Reply(400)
        plain = http_ece.decrypt(body, private_key=agent.key, auth_secret=agent.auth)
        with self.http.lock:
            self.pushed.append(Pushed(agent.name, headers, claims, plain.decode("utf-8")))
            location = f"{self.http.url}/m/{len(self.pushed)}"
        return Reply(201, headers={"Location": location})

    def check_vapid(self, authorization: str) -> dict[str, Any]:
        """``vapid t=<ES256 JWT>, k=<P-256 point>`` (RFC 8292 §3): signature, aud, exp, sub."""
        found = re.fullmatch(r"vapid t=([\w.-]+),\s*k=([\w-]+)", authorization.strip())
        if not found:
            raise ValueError(f"Authorization is not a vapid scheme: {authorization[:20]!r}")
        token, k = found.groups()
        if unb64url(k) != self.vapid_public:
            raise ValueError("k is not the application server key the subscription was made with")
        head, payload, signature = token.split(".")
        raw = unb64url(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(k))
        public.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        if json.loads(unb64url(head)).get("alg") != "ES256":
            raise ValueError("JWT alg is not ES256")
        claims: dict[str, Any] = json.loads(unb64url(payload))
        if claims.get("aud") != self.http.url:
            raise ValueError(f"aud {claims.get('aud')!r} is not this push service's origin")
        if not time.time() < claims.get("exp", 0) <= time.time() + 86400:
            raise ValueError("exp is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub is not a mailto: or https: contact")
        return claims

    def close(self) -> None:
        self.http.close()


# --- FCM HTTP v1 ------------------------------------------------------------------------------

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # the "aud" of a JWT-bearer assertion
_MESSAGE_KEYS = {"token", "notification", "data", "android", "apns", "webpush", "fcm_options"}


def fcm_error(status: int, name: str, message: str, code: str = "", **headers: str) -> Reply:
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
        if code
        else []
    )
    error = {"code": status, "message": message, "status": name, "details": details}
    return Reply.json(status, {"error": error}, **headers)


def schema_problem(body: bytes) -> str | None:
    """What is wrong with a ``messages:send`` body, as FCM's INVALID_ARGUMENT would say."""
    try:
        message = json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return "body is not JSON with a message object"
    if not isinstance(message, dict) or set(message) - _MESSAGE_KEYS:
        return f"unknown message fields {sorted(set(message) - _MESSAGE_KEYS)}"
    if not isinstance(message.get("token"), str) or not message["token"]:
        return "message.token must be a non-empty string"
    notification = message.get("notification", {})
    if set(notification) - {"title", "body", "image"} or not all(
        isinstance(v, str) for v in notification.values()
    ):
        return "message.notification may hold only string title, body, image"
    data = message.get("data", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return "message.data values must be strings"
    return None


class FcmService:
    def __init__(self, project: str, token: str) -> None:
        self.project = project
        self.tokens = {token}  # access tokens it accepts
        self.unregistered: set[str] = set()
        self.script: list[Reply] = []  # forced answers, first in first out
        self.by_token: dict[str, list[Reply]] = {}  # forced answers for one app token, in turn
        self.sent: list[dict[str, Any]] = []
        self.account_key: rsa.RSAPublicKey | None = None  # for the JWT-bearer grant
        self.grants = 0
        self.http = Loopback(self.handle)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path == "/token":
            return self.grant(body)
        if path != f"/v1/projects/{self.project}/messages:send":
            return fcm_error(404, "NOT_FOUND", f"no such method {path}")
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return fcm_error(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials"
            )
        with self.http.lock:
            if self.script:
                return self.script.pop(0)
        problem = schema_problem(body)
        if problem:
            return fcm_error(400, "INVALID_ARGUMENT", problem, "INVALID_ARGUMENT")
        message = json.loads(body)["message"]
        with self.http.lock:
            forced = self.by_token.get(message["token"])
            if forced:
                return forced.pop(0)
        if message["token"] in self.unregistered:
            return fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        with self.http.lock:
            self.sent.append(message)
            name = f"projects/{self.project}/messages/{len(self.sent)}"
        return Reply.json(200, {"name": name})

    def grant(self, body: bytes) -> Reply:
        """RFC 7523: verify the RS256 assertion with the service account's public key."""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        try:
            head, payload, signature = form["assertion"].split(".")
            assert self.account_key is not None and form["grant_type"].endswith(":jwt-bearer")
            self.account_key.verify(
                unb64url(signature),
                f"{head}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(unb64url(payload))
            # google-auth always names Google's endpoint as the audience, as Google expects,
            # whichever token_uri it posts to
            assert claims["aud"] == GOOGLE_TOKEN_URI and claims["exp"] > time.time()
            assert claims["iss"] and claims["iat"] <= time.time() + 60
            assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        except (KeyError, ValueError, AssertionError, InvalidSignature):
            return Reply.json(400, {"error": "invalid_grant"})
        self.grants += 1
        token = f"ya29.granted-{self.grants}"
        self.tokens = {token}  # a new grant revokes the older tokens
        return Reply.json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def close(self) -> None:
        self.http.close()
