"""SMS over SMPP 3.4 (smpplib, the only smpplib import): ``SmppSms``.

One ``bind_transceiver`` session per adapter, kept by a reader thread that reconnects with
backoff and sends ``enquire_link`` when the line is idle. Senders (dispatcher threads) put a
batch through the session's submit window (``outbound.channels.sms_window``): several
``submit_sm`` outstanding at once, each matched to its ``submit_sm_resp`` by sequence number,
every part after a token of the shared throughput limit. ``deliver_sm`` from the
SMSC — delivery receipts and mobile-originated (MO) messages — go to an ``SmsInbound`` handler
and are acknowledged only after it returned, so a crash makes the SMSC deliver them again.

Accepted messages return ``Accepted`` (one message id per part): the outcome arrives by receipt.
A submit the SMSC never acknowledged (the link dropped first) was not accepted and is submitted
once more on a fresh link; a lost ``submit_sm_resp`` after acceptance cannot be told apart by
SMPP and would be sent twice on retry (providers don't deduplicate SMPP submits).

``[sms] tls = true``: the link is TLS 1.2+ (``SmppSettings.tls``), the SMSC's certificate and
host name checked, with a client certificate when configured; a failed handshake is one warning
line naming why (e.g. the certificate verify failure), then the usual reconnect backoff.
"""

from __future__ import annotations

import logging
import queue
import select
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from outbound.channels.base import Message, Result
from outbound.channels.sms_link import link_error, open_link
from outbound.channels.sms_receipts import Receipt, parse_receipt
from outbound.channels.sms_text import SmsPlan, decode, plan, strip_udh
from outbound.channels.sms_window import (
    Job,
    LinkDropped,
    SubmitWindow,
    job_result,
    message_job,
    parts,
)
from outbound.domain.errors import ChannelError, PermanentChannelError, TransientChannelError
from outbound.domain.masking import mask_phone, mask_text
from outbound.domain.values import Accepted, Channel
from outbound.observability import metrics

log = logging.getLogger("outbound.sms")

_TRANSIENT = {0x08, 0x14, 0x58, 0x45, 0x61, 0x64}  # syserr, msgq full, throttled, submit fail…
_RECEIPT = 0x04  # esm_class message type: SMSC delivery receipt
_APP_TEMP_ERROR = 0x64  # ESME_RX_T_APPN: the SMSC retries the deliver_sm later
_LINK_ERRORS = (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError)


@dataclass(frozen=True)
class SmppSettings:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = "Shop"
    source_ton: int = 5  # alphanumeric sender id
    source_npi: int = 0
    enquire_link_seconds: float = 30.0
    response_timeout_seconds: float = 10.0
    reconnect_max_seconds: float = 30.0
    window: int = 10  # submit_sm outstanding at once
    tls: ssl.SSLContext | None = None  # SMPP over TLS: the context that checks the SMSC


class Throttle(Protocol):
    def acquire(self) -> None: ...


class SmsInbound(Protocol):
    """What the SMSC tells us: receipts, and MO texts (which may ask for one reply)."""

    def receipt(self, receipt: Receipt) -> None: ...

    def mo(self, phone: str, text: str) -> str | None: ...


class _Sequence:
    """Thread-safe SMPP sequence numbers (smpplib's default generator is not)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = self._value % 0x7FFFFFFF + 1
            return self._value


class SmppSms:
    channel = Channel.SMS

    def __init__(
        self,
        settings: SmppSettings,
        throttle: Throttle,
        inbound: SmsInbound | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._throttle = throttle
        self._inbound = inbound
        self._client: smpplib.client.Client | None = None
        self._pending: dict[int, Future[Any]] = {}
        self._send_lock = threading.RLock()  # held by submit while it may drop the link
        self._bound = threading.Event()
        self._closed = threading.Event()
        self._replies: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        timeout = settings.response_timeout_seconds
        self.window = SubmitWindow(settings.window, timeout=timeout, hold=timeout)
        self.binds = 0  # how many times a session was bound (reconnects show here)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader (bind, reconnect, keep-alive) and reply threads; idempotent."""
        with self._start_lock:
            if self._threads:
                return
            for target, name in ((self._run, "smpp-reader"), (self._reply_loop, "smpp-replies")):
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def wait_bound(self, timeout: float) -> bool:
        self.start()
        return self._bound.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        self._replies.put(None)
        client = self._client
        if client is not None:
            with self._send_lock, _quiet():
                client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
            self._drop(client)
        for thread in self._threads:
            thread.join(timeout=5)

    # --- sending --------------------------------------------------------------------------

    def send(self, message: Message) -> Accepted:
        (result,) = self.send_batch([message])
        if isinstance(result, ChannelError):
            raise result
        assert isinstance(result, Accepted)  # SMPP outcomes arrive by receipt
        return result

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        """Every message through the submit window; one ``Accepted`` or error each, in order."""
        jobs = [message_job(m, self._fields) for m in messages]
        self.window.run(self, [job for job, _ in jobs])
        return [job_result(job, sms) for job, sms in jobs]

    def send_text(self, phone: str, sms: SmsPlan | str) -> tuple[str, ...]:
        """Submit every part (throttled, receipts requested); returns the message ids."""
        job = Job(phone, parts(phone, plan(sms) if isinstance(sms, str) else sms, self._fields))
        self.window.run(self, [job])
        if isinstance(job.result, ChannelError):
            raise job.result
        return job.result or ()

    def _fields(
        self, phone: str, payload: bytes, data_coding: int, esm_class: int
    ) -> dict[str, Any]:
        return {
            "source_addr_ton": self.settings.source_ton,
            "source_addr_npi": self.settings.source_npi,
            "source_addr": self.settings.source_addr,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": phone.lstrip("+"),
            "short_message": payload,
            "data_coding": data_coding,
            "esm_class": esm_class,
            "registered_delivery": smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH,
        }

    # --- what the submit window uses (sms_window.Link) ----------------------------------------

    def acquire_token(self) -> None:
        self._throttle.acquire()

    def submit(self, fields: dict[str, Any]) -> tuple[int, Future[Any]]:
        timeout = self.settings.response_timeout_seconds
        if not self.wait_bound(timeout):
            raise TransientChannelError(f"SMSC not bound within {timeout:g}s", timeout)
        future: Future[Any] = Future()
        with self._send_lock:
            client = self._client
            if client is None:
                raise LinkDropped()
            pdu = smpplib.smpp.make_pdu("submit_sm", client=client, **fields)
            self._pending[pdu.sequence] = future
            try:
                client.send_pdu(pdu)
            except _LINK_ERRORS as exc:
                self._pending.pop(pdu.sequence, None)
                self._drop(client)
                raise LinkDropped() from exc
        return pdu.sequence, future

    def forget(self, sequence: int) -> None:
        self._pending.pop(sequence, None)

    def message_id(self, resp: Any, phone: str) -> str:
        status = int(resp.status)
        if status == 0:
            raw = resp.message_id
            return raw.decode() if isinstance(raw, bytes) else str(raw)
        name = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
        where = f"submit_sm to {mask_phone(phone)}: SMSC status 0x{status:02X} ({name})"
        if status in _TRANSIENT:
            raise TransientChannelError(where, 1.0 if status == 0x58 else None)
        raise PermanentChannelError(where)

    # --- the link -------------------------------------------------------------------------

    def _connect(self) -> smpplib.client.Client:
        s = self.settings
        client = smpplib.client.Client(
            s.host,
            s.port,
            timeout=s.response_timeout_seconds,
            sequence_generator=_Sequence(),
            allow_unknown_opt_params=True,
        )
        client._socket = open_link(s.host, s.port, s.response_timeout_seconds, s.tls)
        client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
        try:
            client.bind_transceiver(
                system_id=s.system_id, password=s.password, system_type=s.system_type
            )
        except _LINK_ERRORS:
            client.disconnect()
            raise
        return client

    def _run(self) -> None:
        backoff = 0.2
        while not self._closed.is_set():
            try:
                client = self._connect()
            except _LINK_ERRORS as exc:
                log.warning(
                    "SMPP bind to %s:%d failed: %s",
                    self.settings.host,
                    self.settings.port,
                    mask_text(link_error(exc)),
                )
                self._closed.wait(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_seconds)
                continue
            backoff = 0.2
            self._client = client
            self.binds += 1
            self._bound.set()
            metrics.PROVIDER_UP.labels("smpp").set(1)
            try:
                self._read_loop(client)
            except Exception as exc:  # the reader must survive anything: drop and rebind
                if not self._closed.is_set():
                    log.warning("SMPP link lost: %s; reconnecting", mask_text(str(exc)))
            finally:
                self._drop(client)

    def _drop(self, client: smpplib.client.Client) -> None:
        with _quiet():
            if client._socket is not None:
                client._socket.close()
                client._socket = None
            client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        with self._send_lock:  # no submit is registered in the old table after this
            if self._client is not client:
                return
            self._client = None
            self._bound.clear()
            metrics.PROVIDER_UP.labels("smpp").set(0)
            pending, self._pending = self._pending, {}
        for future in pending.values():  # never acknowledged: the window submits them again
            future.set_exception(LinkDropped())

    def _read_loop(self, client: smpplib.client.Client) -> None:
        interval = self.settings.enquire_link_seconds
        last_heard = time.monotonic()
        while not self._closed.is_set() and client._socket is not None:
            sock = client._socket
            # TLS: a record may hold more than the PDU just read; select cannot see those bytes
            buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            ready = [sock] if buffered else select.select([sock], [], [], min(interval, 1.0))[0]
            if not ready:
                idle = time.monotonic() - last_heard
                if idle > 3 * interval:
                    raise smpplib.exceptions.ConnectionError("no answer to enquire_link")
                if idle > interval:
                    self._reply_pdu(client, smpplib.smpp.make_pdu("enquire_link", client=client))
                continue
            pdu = client.read_pdu()
            last_heard = time.monotonic()
            if not self._on_pdu(client, pdu):
                return

    def _reply_pdu(self, client: smpplib.client.Client, pdu: Any) -> None:
        with self._send_lock:
            client.send_pdu(pdu)

    def _on_pdu(self, client: smpplib.client.Client, pdu: Any) -> bool:
        """Handle one PDU from the SMSC; False when the SMSC ended the session."""
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            future = self._pending.pop(pdu.sequence, None)
            if future is not None and not future.done():
                future.set_result(pdu)
        elif command == "deliver_sm":
            resp = smpplib.smpp.make_pdu(
                "deliver_sm_resp", client=client, status=self._on_deliver(pdu)
            )
            resp.sequence = pdu.sequence
            self._reply_pdu(client, resp)
        elif command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            self._reply_pdu(client, resp)
        elif command == "unbind":
            resp = smpplib.smpp.make_pdu("unbind_resp", client=client)
            resp.sequence = pdu.sequence
            self._reply_pdu(client, resp)
            log.warning("SMSC unbound the session; reconnecting")
            return False
        return True

    def _on_deliver(self, pdu: Any) -> int:
        """Receipt or MO -> the inbound handler; a failure asks the SMSC to try again later."""
        if self._inbound is None:
            return 0
        payload = strip_udh(pdu.short_message or b"", int(pdu.esm_class or 0))
        try:
            if int(pdu.esm_class or 0) & 0x3C == _RECEIPT:
                self._inbound.receipt(parse_receipt(pdu, payload))
                return 0
            phone = "+" + _text(pdu.source_addr).lstrip("+")
            reply = self._inbound.mo(phone, decode(payload, int(pdu.data_coding or 0)))
        except Exception:
            log.exception("inbound deliver_sm handler failed; the SMSC will redeliver")
            return _APP_TEMP_ERROR
        if reply:
            self._replies.put((phone, reply))
        return 0

    def _reply_loop(self) -> None:
        """MO answers (STOP confirmation, HELP) go out here, never from the reader thread."""
        while True:
            item = self._replies.get()
            if item is None:
                return
            phone, text = item
            try:
                self.send_text(phone, text)
            except Exception as exc:
                log.warning("reply to %s failed: %s", mask_phone(phone), mask_text(str(exc)))


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


class _quiet:
    """Ignore link errors while tearing a session down."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is not None and issubclass(exc_type, _LINK_ERRORS)
