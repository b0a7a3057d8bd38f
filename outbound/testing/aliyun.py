"""An Aliyun-shaped dysmsapi on loopback, written to Aliyun's documentation.

``AliyunService`` answers the RPC ``POST /`` with ``Action=SendSms`` (or
``QuerySendStatistics``), checking the signature v1 (HMAC-SHA1 of ``POST&%2F&`` + the sorted,
percent-encoded parameters, keyed by the AccessKey secret + ``&``; written here apart from the
product's code), with ``{"Code": "OK", "BizId", "RequestId", "Message"}`` or an error
``Code``; ``answers`` scripts the next codes (e.g. ``["isv.BUSINESS_LIMIT_CONTROL"]``).
``push`` posts a SmsReport / SmsUp batch (a JSON array) to a callback URL.

Used by tests/providers; never by the production path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

from outbound.testing.peers import Loopback, Reply


def _enc(text: str) -> str:
    return quote(text, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


@dataclass
class AliyunService:
    key_id: str
    secret: str
    answers: deque[str] = field(default_factory=deque)
    sent: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.loopback = Loopback(self.handle)
        self.url = self.loopback.url

    def close(self) -> None:
        self.loopback.close()

    def script(self, *codes: str) -> None:
        with self.lock:
            self.answers.extend(codes)

    def _signed(self, form: dict[str, str]) -> bool:
        canonical = "&".join(
            _enc(k) + "=" + _enc(form[k]) for k in sorted(form) if k != "Signature"
        )
        to_sign = "POST&%2F&" + _enc(canonical)
        digest = hmac.new((self.secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode() == form.get("Signature")

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("AccessKeyId") != self.key_id:
            return self._error("InvalidAccessKeyId.NotFound", 404)
        if not self._signed(form):
            return self._error("SignatureDoesNotMatch", 400)
        if form.get("Action") == "QuerySendStatistics":
            return Reply.json(200, {"Code": "OK", "Data": {}})
        if form.get("Action") != "SendSms":
            return self._error("InvalidAction", 400)
        with self.lock:
            code = self.answers.popleft() if self.answers else "OK"
        if code != "OK":
            return self._error(code, 200)
        with self.lock:
            biz = f"{next(self._ids)}^0"
            self.sent.append({**form, "BizId": biz})
        return Reply.json(200, {"Code": "OK", "Message": "OK", "BizId": biz, "RequestId": "R"})

    def _error(self, code: str, status: int) -> Reply:
        with self.lock:
            self.refused += 1
        return Reply.json(status, {"Code": code, "Message": code, "RequestId": "R"})


def push(url: str, items: list[dict[str, Any]]) -> int:
    """POST a SmsReport / SmsUp batch as Aliyun's HTTP push does; the status."""
    request = urllib.request.Request(
        url,
        data=json.dumps(items, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
