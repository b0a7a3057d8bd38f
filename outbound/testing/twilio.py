"""A Twilio-shaped Messages API on loopback, written to Twilio's documentation.

``TwilioService`` answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (HTTP Basic with
the account SID and auth token; form fields To, From or MessagingServiceSid, Body,
StatusCallback) with 201 and a message resource, or Twilio's error body
``{"code", "message", "more_info", "status"}``; ``GET /2010-04-01/Accounts/{sid}.json`` is the
Account resource. ``answers`` scripts what comes next (e.g. ``[429, 429]``, ``[21610]``,
``[500]``); an empty script accepts. ``status_callback`` posts a signed status callback the way
Twilio does (tests check the signature against the official ``twilio`` package).

Used by tests/providers, ``make demo`` and benchmarks; never by the production path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from outbound.testing.peers import Loopback, Reply

#: Twilio error codes the script may name, with the HTTP status Twilio answers them with
ERRORS = {
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21211: (400, "Invalid 'To' Phone Number"),
    20429: (429, "Too Many Requests"),
    20003: (401, "Authenticate"),
    20500: (500, "An internal server error has occurred"),
}


@dataclass
class Sent:
    sid: str
    form: dict[str, str]


@dataclass
class TwilioService:
    account_sid: str
    auth_token: str
    answers: deque[int] = field(default_factory=deque)
    sent: list[Sent] = field(default_factory=list)
    refused: int = 0  # requests answered with an error
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.loopback = Loopback(self.handle)
        self.url = self.loopback.url

    def close(self) -> None:
        self.loopback.close()

    def script(self, *answers: int) -> None:
        with self.lock:
            self.answers.extend(answers)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        if headers.get("authorization") != expected:
            return self._error(20003)
        if path == base + ".json":
            return _json(200, {"sid": self.account_sid, "status": "active"})
        if path != base + "/Messages.json":
            return _json(404, {"code": 20404, "message": "not found", "status": 404})
        form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
            return _json(400, {"code": 21604, "message": "'To' and 'From' are required"})
        with self.lock:
            answer = self.answers.popleft() if self.answers else 0
        if answer:
            return self._error(answer)
        with self.lock:
            sid = f"SM{next(self._ids):032x}"
            self.sent.append(Sent(sid, form))
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form.get("From"),
            "body": form.get("Body", ""),
            "status": "queued",
            "num_segments": "1",
        }
        return _json(201, resource)

    def _error(self, code: int) -> Reply:
        with self.lock:
            self.refused += 1
        status, message = ERRORS.get(code, (code, "error")) if code >= 1000 else (code, "error")
        body = {"code": code if code >= 1000 else None, "message": message, "status": status}
        return _json(status, body)


def _json(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature`` as Twilio documents it (written here apart from the product's
    code; tests/providers check it against the official package's ``RequestValidator``):
    HMAC-SHA1 of the URL and the sorted parameters, name + value, base64."""
    data = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def post_signed(
    url: str, auth_token: str, params: dict[str, str], *, bad: bool = False
) -> tuple[int, str]:
    """POST ``params`` to ``url`` as Twilio does (form, X-Twilio-Signature); (status, body)."""
    sig = sign(auth_token, url, params)
    if bad:
        sig = sign(auth_token + "x", url, params)
    request = urllib.request.Request(
        url,
        data=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sig,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def status_callback(
    sent: Sent, status: str, auth_token: str, error_code: str = ""
) -> tuple[int, str]:
    """Twilio's status callback for ``sent`` to its StatusCallback URL."""
    params = {
        "MessageSid": sent.sid,
        "SmsSid": sent.sid,
        "AccountSid": "",
        "MessageStatus": status,
        "SmsStatus": status,
        "To": sent.form.get("To", ""),
        "From": sent.form.get("From", ""),
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return post_signed(sent.form["StatusCallback"], auth_token, params)
