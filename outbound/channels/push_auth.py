"""OAuth 2 access tokens for FCM HTTP v1: from a command, or from a service-account file.

Tokens are cached until shortly before they expire and dropped on a 401, so a revoked token is
replaced at the next send. A token never appears in a log line or an error message.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from outbound.domain.errors import ConfigError, TransientChannelError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_EARLY = 60.0  # refresh this many seconds before the token's stated expiry


class TokenProvider(Protocol):
    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class _Cached:
    """Thread-safe cache around a ``fetch() -> (token, lifetime seconds)``."""

    def __init__(self, fetch: Callable[[], tuple[str, float]], now: Callable[[], float]) -> None:
        self._fetch = fetch
        self._now = now
        self._lock = threading.Lock()
        self._token = ""
        self._until = 0.0

    def token(self) -> str:
        with self._lock:
            if not self._token or self._now() >= self._until:
                token, lifetime = self._fetch()
                self._token, self._until = token, self._now() + max(lifetime - _EARLY, 1.0)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = ""


class CommandTokens(_Cached):
    """Runs e.g. ``gcloud auth print-access-token``: stdout is the token, cached ``ttl`` seconds."""

    def __init__(self, command: str, ttl: float = 3000.0, timeout: float = 30.0) -> None:
        self._argv = shlex.split(command)
        if not self._argv:
            raise ConfigError(
                "[push] fcm_token_command is empty; e.g. 'gcloud auth print-access-token'"
            )
        self._ttl, self._timeout = ttl, timeout
        super().__init__(self._run, time.monotonic)

    def _run(self) -> tuple[str, float]:
        try:
            done = subprocess.run(
                self._argv, capture_output=True, text=True, timeout=self._timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TransientChannelError(
                f"FCM token command {self._argv[0]!r} failed: {type(exc).__name__}", 30.0
            ) from None
        token = done.stdout.strip()
        if done.returncode != 0 or not token:
            raise TransientChannelError(
                f"FCM token command {self._argv[0]!r} exited {done.returncode} "
                "without a token (its output is not shown: it may hold secrets)",
                30.0,
            )
        return token, self._ttl


class ServiceAccountTokens(_Cached):
    """The OAuth 2 JWT-bearer grant (RFC 7523) with a Google service-account key file."""

    def __init__(
        self, path: str | Path, client: httpx.Client, token_uri: str = "", timeout: float = 10.0
    ) -> None:
        try:
            info = json.loads(Path(path).read_text(encoding="utf-8"))
            self.email = str(info["client_email"])
            key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"[push] fcm_service_account_file {str(path)!r} is not a service-account key "
                f"({type(exc).__name__}); download one from the Firebase console"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"[push] fcm_service_account_file {str(path)!r}: not an RSA key")
        self._key = key
        self.project_id = str(info.get("project_id", ""))
        self.token_uri = token_uri or str(
            info.get("token_uri", "https://oauth2.googleapis.com/token")
        )
        self._client, self._timeout = client, timeout
        super().__init__(self._grant, time.monotonic)

    def assertion(self, now: float) -> str:
        claims = {
            "iss": self.email,
            "scope": FCM_SCOPE,
            "aud": self.token_uri,
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        head = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        signing_input = f"{head}.{_b64(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def _grant(self) -> tuple[str, float]:
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self.assertion(time.time()),
        }
        try:
            resp = self._client.post(self.token_uri, data=form, timeout=self._timeout)
            body: Any = resp.json() if resp.content else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise TransientChannelError(
                f"OAuth token request failed: {type(exc).__name__}"
            ) from None
        if resp.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise TransientChannelError(f"OAuth token endpoint answered {resp.status_code} {error}")
        return str(body["access_token"]), float(body.get("expires_in", 3600))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
