"""A Vonage-shaped SMS API on loopback, written to Vonage's documentation.

``VonageService`` answers ``POST /sms/json`` (form fields api_key, api_secret, from, to, text,
type, callback, client-ref) with HTTP 200 and ``{"message-count", "messages": [{"to",
"message-id", "status", …}]}``, status "0" when accepted; ``answers`` scripts the status of the
next requests (e.g. ``["1", "1"]`` throttled, ``["3"]`` invalid number, ``[500]`` an HTTP 500).
``GET /account/get-balance`` checks the credentials. ``signed_webhook`` posts a receipt or an
inbound message signed as Vonage signs them (``sig``: md5hash or an HMAC).

Used by tests/providers; never by the production path.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from outbound.testing.peers import Loopback, Reply


@dataclass
class VonageService:
    api_key: str
    api_secret: str
    answers: deque[str | int] = field(default_factory=deque)
    sent: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.loopback = Loopback(self.handle)
        self.url = self.loopback.url

    def close(self) -> None:
        self.loopback.close()

    def script(self, *answers: str | int) -> None:
        with self.lock:
            self.answers.extend(answers)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(path)
        query = parse_qs(parts.query) or parse_qs(body.decode(), keep_blank_values=True)
        form = {k: v[-1] for k, v in query.items()}
        good = (form.get("api_key"), form.get("api_secret")) == (self.api_key, self.api_secret)
        if parts.path == "/account/get-balance":
            return Reply.json(200 if good else 401, {"value": 10.5, "autoReload": False})
        if parts.path != "/sms/json":
            return Reply.json(404, {"error": "not found"})
        with self.lock:
            answer = self.answers.popleft() if self.answers else "0"
        if isinstance(answer, int):
            with self.lock:
                self.refused += 1
            return Reply.json(answer, {"error": "server error"})
        if not good:
            answer = "4"
        if answer != "0":
            with self.lock:
                self.refused += 1
            entry = {"status": answer, "error-text": f"status {answer}"}
            return Reply.json(200, {"message-count": "1", "messages": [entry]})
        with self.lock:
            message_id = f"{next(self._ids):016X}"
            self.sent.append({**form, "message-id": message_id})
        entry = {"to": form.get("to", ""), "message-id": message_id, "status": "0"}
        return Reply.json(200, {"message-count": "1", "messages": [entry]})


def sign(secret: str, params: dict[str, str], method: str = "md5hash") -> str:
    """``sig`` as Vonage documents it (written here apart from the product's code)."""
    text = "".join(
        "&" + key + "=" + params[key].replace("&", "_").replace("=", "_") for key in sorted(params)
    )
    if method == "md5hash":
        return hashlib.md5((text + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), text.encode(), getattr(hashlib, method)).hexdigest()


def signed_webhook(
    url: str, secret: str, params: dict[str, str], *, method: str = "md5hash", bad: bool = False
) -> int:
    """POST ``params`` (form) to ``url`` with ``timestamp``, ``nonce`` and ``sig``; the status."""
    signed = {**params, "timestamp": str(int(time.time())), "nonce": "n-" + str(time.time_ns())}
    signed["sig"] = sign(secret + ("x" if bad else ""), signed, method)
    request = urllib.request.Request(
        url,
        data=urlencode(signed).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def receipt(url: str, secret: str, sent: dict[str, str], status: str, err: str = "0") -> int:
    """The delivery receipt Vonage posts to the message's ``callback``."""
    params = {
        "msisdn": sent.get("to", ""),
        "to": sent.get("from", ""),
        "network-code": "310090",
        "messageId": sent["message-id"],
        "price": "0.00700000",
        "status": status,
        "scts": "2611261500",
        "err-code": err,
        "api-key": sent.get("api_key", ""),
        "client-ref": sent.get("client-ref", ""),
        "message-timestamp": "2026-11-26 15:00:00",
    }
    return signed_webhook(url, secret, params)
