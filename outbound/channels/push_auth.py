"""OAuth 2 access tokens for FCM HTTP v1: from a command, or from a service-account file.

Tokens are cached until shortly before they expire and dropped on a 401, so a revoked token is
replaced at the next send. A token never appears in a log line or an error message.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import google.auth.exceptions
import google.auth.transport
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt
from google.oauth2 import service_account

from outbound.domain.errors import ConfigError, TransientChannelError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
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
    """The OAuth 2 JWT-bearer grant (RFC 7523) with a Google service-account key file.

    ``google-auth`` signs the assertion and talks to the token endpoint; the request goes
    through the adapter's own httpx client (its timeouts, no redirects), and ``token_uri`` (the
    ``fcm_token_uri`` setting) overrides the file's, so tests can point it at a loopback server.
    """

    def __init__(
        self, path: str | Path, client: httpx.Client, token_uri: str = "", timeout: float = 10.0
    ) -> None:
        try:
            info = json.loads(Path(path).read_text(encoding="utf-8"))
            self.email = str(info["client_email"])
            key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"[push] fcm_service_account_file {str(path)!r} is not a service-account key "
                f"({type(exc).__name__}); download one from the Firebase console"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"[push] fcm_service_account_file {str(path)!r}: not an RSA key")
        self.project_id = str(info.get("project_id", ""))
        self.token_uri = token_uri or str(info.get("token_uri", GOOGLE_TOKEN_URI))
        self._credentials = service_account.Credentials(
            crypt.RSASigner(key, key_id=info.get("private_key_id")),
            self.email,
            self.token_uri,
            scopes=[FCM_SCOPE],
            project_id=self.project_id or None,
        )
        self._request = _HttpxRequest(client, timeout)
        super().__init__(self._grant, time.monotonic)

    def _grant(self) -> tuple[str, float]:
        try:
            self._credentials.refresh(self._request)
        except google.auth.exceptions.TransportError as exc:
            raise TransientChannelError(f"OAuth token request failed: {exc}") from None
        except google.auth.exceptions.RefreshError as exc:
            answer = exc.args[1] if len(exc.args) > 1 else None
            error = answer.get("error", "") if isinstance(answer, dict) else ""
            raise TransientChannelError(
                f"OAuth token endpoint answered {self._request.status} {error}"
            ) from None
        expiry = self._credentials.expiry  # naive UTC, from the answer's expires_in
        lifetime = (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds() if expiry else 0
        return str(self._credentials.token), lifetime or 3600.0


class _HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over a shared httpx client."""

    def __init__(self, client: httpx.Client, timeout: float) -> None:
        self._client, self._timeout = client, timeout
        self.status = 0  # of the last answer, for the error message

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **_kwargs: Any,
    ) -> _HttpxResponse:
        try:
            answer = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or self._timeout
            )
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(type(exc).__name__) from None
        self.status = answer.status_code
        return _HttpxResponse(answer)


class _HttpxResponse(google.auth.transport.Response):
    def __init__(self, answer: httpx.Response) -> None:
        self._answer = answer

    @property
    def status(self) -> int:
        return self._answer.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._answer.headers

    @property
    def data(self) -> bytes:
        return self._answer.content
