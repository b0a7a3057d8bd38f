"""Consent: the latest matching record of the append-only ledger decides.

A record with ``channel`` / ``purpose`` of ``None`` covers all of them, so a global revoke (an
SMS STOP, an in-call opt-out) blocks every channel at once. On a tie a revoke wins: withdrawing
must be at least as easy as granting (GDPR Art. 7(3), TCPA revocation by any reasonable means).
"""

from __future__ import annotations

from collections.abc import Iterable

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
    record = latest_record(channel, purpose, consents)
    if record is None:
        return _default(channel, purpose, jurisdiction)
    if record.action is ConsentAction.REVOKE:
        return False, f"revoked on {_when_how(record)}"
    if _needs_written(channel, purpose, jurisdiction) and not record.written:
        return False, (
            f"voice marketing needs written consent naming the number; "
            f"the grant of {_when_how(record)} is not written"
        )
    kind = "written " if record.written else ""
    return True, f"{kind}{channel.value} consent for {purpose.value} granted on {_when_how(record)}"


def _default(channel: Channel, purpose: Purpose, jurisdiction: Jurisdiction) -> tuple[bool, str]:
    """No record: the jurisdiction's default for the purpose (unknown purpose = explicit)."""
    if jurisdiction.consent_default.get(purpose, "explicit") == "implied":
        return True, (
            f"no consent record; {purpose.value} contact is implied in {jurisdiction.code}"
        )
    return False, (f"no explicit {channel.value} consent for {purpose.value} (needs an opt-in)")


def _needs_written(channel: Channel, purpose: Purpose, jurisdiction: Jurisdiction) -> bool:
    return (
        channel is Channel.VOICE
        and purpose is Purpose.MARKETING
        and jurisdiction.voice_marketing_requires_written
    )


def _when_how(record: ConsentRecord) -> str:
    when = record.at.date().isoformat()
    return f"{when} via {record.source}" if record.source else when
