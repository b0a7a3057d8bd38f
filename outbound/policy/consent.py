"""Consent: the latest matching record of the append-only ledger decides.

A record with ``channel`` / ``purpose`` of ``None`` covers all of them, so a global revoke (an
SMS STOP, an in-call opt-out) blocks every channel at once. On a tie a revoke wins: withdrawing
must be at least as easy as granting (GDPR Art. 7(3), TCPA revocation by any reasonable means).
"""

from __future__ import annotations

from collections.abc import Iterable

from outbound.domain.trace import Note
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.policy.model import ConsentRecord, Jurisdiction


def latest_record(
    channel: Channel, purpose: Purpose, consents: Iterable[ConsentRecord]
) -> ConsentRecord | None:
    """The record that decides for (channel, purpose); revoke beats grant at the same instant."""
    matching = [
        r for r in consents if r.channel in (None, channel) and r.purpose in (None, purpose)
    ]
    if not matching:
        return None
    return max(matching, key=lambda r: (r.at, r.action is ConsentAction.REVOKE))


def consent_ok(
    channel: Channel,
    purpose: Purpose,
    consents: Iterable[ConsentRecord],
    jurisdiction: Jurisdiction,
) -> tuple[bool, str]:
    """Whether we may contact on ``channel`` for ``purpose``, and why in plain words."""
    note = consent_note(channel, purpose, consents, jurisdiction)
    return note.ok, note.text(channel.value, None)


def consent_note(
    channel: Channel,
    purpose: Purpose,
    consents: Iterable[ConsentRecord],
    jurisdiction: Jurisdiction,
) -> Note:
    """The consent finding for (channel, purpose) as a code and values (``consent:…``)."""
    record = latest_record(channel, purpose, consents)
    if record is None:
        if jurisdiction.consent_default.get(purpose, "explicit") == "implied":
            return Note("consent:implied", (purpose.value, jurisdiction.code))
        return Note("consent:missing", (purpose.value,))  # unknown purpose = explicit
    if record.action is ConsentAction.REVOKE:
        return Note("consent:revoked", _when_how(record))
    if _needs_written(channel, purpose, jurisdiction) and not record.written:
        return Note("consent:unwritten", _when_how(record))
    code = "consent:granted_written" if record.written else "consent:granted"
    return Note(code, (purpose.value, *_when_how(record)))


def _needs_written(channel: Channel, purpose: Purpose, jurisdiction: Jurisdiction) -> bool:
    return (
        channel is Channel.VOICE
        and purpose is Purpose.MARKETING
        and jurisdiction.voice_marketing_requires_written
    )


def _when_how(record: ConsentRecord) -> tuple[str, ...]:
    """The record's day, and its source when it has one."""
    when = record.at.date().isoformat()
    return (when, record.source) if record.source else (when,)
