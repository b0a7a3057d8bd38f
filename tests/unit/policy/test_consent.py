from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.policy.consent import consent_ok
from outbound.policy.model import ConsentRecord, Jurisdiction, Rules

UTC = ZoneInfo("UTC")
GRANT, REVOKE = ConsentAction.GRANT, ConsentAction.REVOKE
PUSH, SMS, VOICE = Channel.PUSH, Channel.SMS, Channel.VOICE
TX, MKT = Purpose.TRANSACTIONAL, Purpose.MARKETING


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def us(rules: Rules) -> Jurisdiction:
    return rules.jurisdictions["US"]


def test_transactional_is_implied_without_any_record(us: Jurisdiction) -> None:
    ok, detail = consent_ok(SMS, TX, (), us)
    assert ok
    assert "implied" in detail


def test_marketing_needs_an_explicit_grant(us: Jurisdiction) -> None:
    assert consent_ok(SMS, MKT, (), us) == (
        False,
        "no explicit sms consent for marketing (needs an opt-in)",
    )


def test_marketing_sms_allowed_after_an_sms_marketing_grant(us: Jurisdiction) -> None:
    grant = ConsentRecord(SMS, MKT, GRANT, at(1, 5), source="web checkbox")
    ok, detail = consent_ok(SMS, MKT, (grant,), us)
    assert ok
    assert "2026-01-05 via web checkbox" in detail


def test_grant_for_another_channel_does_not_count(us: Jurisdiction) -> None:
    grant = ConsentRecord(PUSH, MKT, GRANT, at(1, 5))
    assert consent_ok(SMS, MKT, (grant,), us)[0] is False


def test_latest_record_wins_regardless_of_ledger_order(us: Jurisdiction) -> None:
    ledger = (
        ConsentRecord(SMS, MKT, GRANT, at(3, 1)),
        ConsentRecord(SMS, MKT, GRANT, at(1, 1)),
        ConsentRecord(SMS, MKT, REVOKE, at(2, 1)),
    )
    assert consent_ok(SMS, MKT, ledger, us)[0] is True
    assert consent_ok(SMS, MKT, ledger[1:], us)[0] is False


def test_revoke_wins_over_grant_at_the_same_instant(us: Jurisdiction) -> None:
    ledger = (
        ConsentRecord(SMS, MKT, REVOKE, at(2, 1)),
        ConsentRecord(SMS, MKT, GRANT, at(2, 1)),
    )
    assert consent_ok(SMS, MKT, ledger, us)[0] is False
    assert consent_ok(SMS, MKT, tuple(reversed(ledger)), us)[0] is False


def test_revoke_on_any_channel_blocks_every_channel(us: Jurisdiction) -> None:
    ledger = (
        ConsentRecord(VOICE, TX, GRANT, at(1, 1), written=True),
        ConsentRecord(None, None, REVOKE, at(3, 1), source="sms STOP"),
    )
    for channel in (PUSH, SMS, VOICE):
        assert consent_ok(channel, TX, ledger, us) == (False, "revoked on 2026-03-01 via sms STOP")


def test_revoke_on_one_channel_leaves_the_others(us: Jurisdiction) -> None:
    ledger = (ConsentRecord(SMS, None, REVOKE, at(3, 1)),)
    assert consent_ok(SMS, TX, ledger, us)[0] is False
    assert consent_ok(PUSH, TX, ledger, us)[0] is True


def test_voice_marketing_needs_written_consent(us: Jurisdiction) -> None:
    spoken = ConsentRecord(VOICE, MKT, GRANT, at(1, 1), written=False, source="call")
    ok, detail = consent_ok(VOICE, MKT, (spoken,), us)
    assert not ok
    assert "written" in detail
    written = ConsentRecord(VOICE, MKT, GRANT, at(1, 2), written=True, source="signed form")
    assert consent_ok(VOICE, MKT, (spoken, written), us)[0] is True


def test_voice_marketing_without_written_rule_accepts_a_plain_grant(us: Jurisdiction) -> None:
    lenient = Jurisdiction("X", {}, us.consent_default, voice_marketing_requires_written=False)
    grant = ConsentRecord(VOICE, MKT, GRANT, at(1, 1))
    assert consent_ok(VOICE, MKT, (grant,), lenient)[0] is True


def test_a_grant_after_a_global_revoke_restores_only_its_scope(us: Jurisdiction) -> None:
    ledger = (
        ConsentRecord(None, None, REVOKE, at(1, 1)),
        ConsentRecord(SMS, MKT, GRANT, at(2, 1)),
    )
    assert consent_ok(SMS, MKT, ledger, us)[0] is True
    assert consent_ok(SMS, TX, ledger, us)[0] is False
