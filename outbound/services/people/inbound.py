"""Inbound messages, whatever channel brought them: opt-out (STOP, 退订…), HELP, anything else.

``handle_mo`` is channel-agnostic and runs in the caller's transaction: an opt-out appends two
rows to the consent ledger — the channel it came on, for every purpose, and marketing on every
channel — so it takes effect before the next claim re-checks the policy. It returns the one
reply to send (the opt-out confirmation carries no marketing). ``DbSmsInbound`` connects the
SMPP adapter's receipts and MO messages to the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from sqlalchemy import Connection, Engine

from outbound.channels.sms_receipts import Receipt
from outbound.domain.masking import mask_phone
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.policy.consent import latest_record
from outbound.policy.ladder import Ladder
from outbound.policy.messaging import Keyword, MessagingRules
from outbound.policy.model import Rules
from outbound.services.endpoints.events import StatusEvent, emit
from outbound.services.people.customers import add_consent, consent_records
from outbound.services.send.outcomes import record_receipt
from outbound.store import audit
from outbound.store.customers import by_phone
from outbound.store.privacy import add_inbound_texts, hashing_key, keyed_digest


@dataclass(frozen=True)
class Program:
    """What HELP answers (CTIA): program name, frequency, rates notice, support contact."""

    name: str = "Shop alerts"
    frequency: str = "Msg frequency varies"
    support: str = "support@shop.example"
    brand: str = "Shop"


@dataclass(frozen=True)
class MoResult:
    keyword: Keyword
    customer_ids: tuple[int, ...]
    reply: str | None


REPLIES: dict[str, dict[str, str]] = {
    "en": {
        "stop": "{brand}: you are unsubscribed and will get no more messages. Reply HELP for help.",
        "help": "{program}: {frequency}. Msg & data rates may apply. Help: {support}. "
        "Reply STOP to opt out.",
    },
    "zh": {
        "stop": "【{brand}】您已退订，将不再收到我们的消息。",
        "help": "【{brand}】{program}：{frequency}。可能产生短信及流量费用。客服：{support}。回复TD退订",
    },
}


def _language(locale: str | None) -> str:
    language = (locale or "en").split("-")[0].lower()
    return language if language in REPLIES else "en"


def _country(phone: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


def _opted_out(conn: Connection, cid: int, channel: Channel) -> bool:
    latest = latest_record(channel, Purpose.TRANSACTIONAL, consent_records(conn, cid))
    return latest is not None and latest.action is ConsentAction.REVOKE


#: a reply quoted in consent evidence as it was: a few words, no digits ("STOP", "退订",
#: "stop all"); only a whole-message keyword revokes, so this is what a STOP looks like
_BARE = re.compile(r"^[^\W\d_]+(?: [^\W\d_]+){0,2}$")


def reply_evidence(channel: Channel, text: str, keyword: str) -> str:
    """Consent evidence for a reply: a keyword is quoted; anything else ("STOP, this is Jane
    Doe of 12 Elm St", were it ever a keyword) is not (the text lives in ``inbound_texts``
    until an erasure), only its length and what it was understood as."""
    word = text.strip()
    if len(word) <= 24 and _BARE.match(word):
        return f"{channel.value} reply {word!r}"
    return f"{channel.value} reply [free text, {len(word)} chars, understood as {keyword}]"


def _revoke(conn: Connection, cid: int, channel: Channel, text: str, now: datetime) -> None:
    evidence = reply_evidence(channel, text, "stop")
    for ch, purpose in ((channel, None), (None, Purpose.MARKETING)):
        add_consent(
            conn,
            cid,
            ch,
            purpose,
            ConsentAction.REVOKE,
            source=f"{channel.value}-mo",
            evidence=evidence,
            actor="customer",
            now=now,
            announce=ch is not None,  # one customer.opted_out per STOP
        )


def _record(
    conn: Connection,
    phone: str,
    text: str,
    keyword: str,
    ids: tuple[int, ...],
    channel: Channel,
    now: datetime,
) -> None:
    """The chain keeps forever only what it may (a keyed hash, the length, the keyword); the
    text itself goes to ``inbound_texts``, which erasure clears."""
    digest = keyed_digest(hashing_key(conn, now), "inbound", text)
    data: dict[str, Any] = {
        "channel": channel.value,
        "phone": mask_phone(phone),
        "keyword": keyword,
        "length": len(text),
        "text_hash": digest,
    }
    subjects = [f"customer#{cid}" for cid in ids] or [f"phone:{mask_phone(phone)}"]
    last = audit.append(
        conn, [audit.Event("customer", "inbound.message", s, data) for s in subjects], now
    )
    first = last - len(subjects) + 1
    owners: list[int | None] = list(ids) or [None]
    add_inbound_texts(
        conn,
        [(cid, first + i) for i, cid in enumerate(owners)],
        phone=phone,
        channel=channel.value,
        keyword=keyword,
        text=text,
        text_hash=digest,
        now=now,
    )


def handle_mo(
    conn: Connection,
    phone: str,
    text: str,
    *,
    now: datetime,
    rules: Rules,
    messaging: MessagingRules,
    program: Program,
    channel: Channel = Channel.SMS,
) -> MoResult:
    """Act on one inbound text from ``phone``; returns what was understood and the reply."""
    people = by_phone(conn, phone)
    country = people[0].country if people else _country(phone)
    keyword = messaging.for_code(rules.for_country(country).code).classify(text)
    ids = tuple(int(p.id) for p in people)
    language = _language(people[0].locale if people else "zh" if country == "CN" else "en")
    reply: str | None = None
    if keyword == "stop":
        fresh = [cid for cid in ids if not _opted_out(conn, cid, channel)]
        for cid in fresh:
            _revoke(conn, cid, channel, text, now)
        if fresh:  # one confirmation, not one per repeated STOP
            reply = REPLIES[language]["stop"]
    elif keyword == "help":
        reply = REPLIES[language]["help"]
    if keyword == "other":
        said = {"channel": channel.value, "text": text, "phone": phone}
        replied = [StatusEvent("customer.replied", customer_id=cid, data=said) for cid in ids]
        emit(conn, replied, now)
    _record(conn, phone, text, keyword, ids, channel, now)
    if reply is not None:
        reply = reply.format(
            brand=program.brand,
            program=program.name,
            frequency=program.frequency,
            support=program.support,
        )
    return MoResult(keyword, ids, reply)


@dataclass
class DbSmsInbound:
    """The SMPP adapter's inbound handler: each receipt and MO in its own transaction."""

    engine: Engine
    rules: Rules
    messaging: MessagingRules
    program: Program
    ladder: Ladder
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def receipt(self, receipt: Receipt) -> None:
        outcome = receipt.outcome
        if outcome is None:  # ENROUTE, ACCEPTD: not final
            return
        detail = {"state": receipt.state, "error": receipt.error}
        with self.engine.begin() as conn:
            record_receipt(
                conn,
                Channel.SMS,
                receipt.ref,
                outcome,
                detail,
                now=self.clock(),
                ladder=self.ladder,
            )

    def opted_out(self, phone: str, provider: str, evidence: str) -> None:
        """A provider refused a send because the recipient unsubscribed there (Twilio 21610):
        the same consent-ledger entries as a STOP, without a reply."""
        now = self.clock()
        with self.engine.begin() as conn:
            people = by_phone(conn, phone)
            for cid in (int(p.id) for p in people):
                if _opted_out(conn, cid, Channel.SMS):
                    continue
                for ch, purpose in ((Channel.SMS, None), (None, Purpose.MARKETING)):
                    add_consent(
                        conn,
                        cid,
                        ch,
                        purpose,
                        ConsentAction.REVOKE,
                        source=f"{provider}-optout",
                        evidence=evidence,
                        actor="provider",
                        now=now,
                    )

    def mo(self, phone: str, text: str) -> str | None:
        with self.engine.begin() as conn:
            result = handle_mo(
                conn,
                phone,
                text,
                now=self.clock(),
                rules=self.rules,
                messaging=self.messaging,
                program=self.program,
            )
        return result.reply
