"""Stored decisions hold codes and values; read back, they are the words readers always saw."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outbound.domain.records import (
    PACKED,
    decision_record,
    decision_summary,
    decision_words,
    pack,
    readable,
    readable_summary,
    unpack,
)
from outbound.domain.trace import KNOWN_CODES, Facts, Note, full_code, instant, short_code, stamp
from outbound.domain.values import Channel, Decision, Defer, TraceStep
from outbound.policy import decide, load_rules_file
from outbound.policy.model import Rules
from tests.unit.policy.trace_corpus import GOLDEN, POLICIES, scenarios

AT = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
OLD_KEYS = {
    "send": ["trace", "type", "channel", "at", "caps"],
    "defer": ["trace", "type", "until", "channel", "reason"],
    "suppress": ["trace", "type", "code", "reason"],
}
SHORT_KEYS = {"at", "r", "v", "ch", "sa", "caps", "u", "code", "why", "j", "tz", "tz+", "now", "t"}


@pytest.fixture(scope="module")
def decided() -> list[tuple[str, Decision]]:
    rules: Rules = load_rules_file(POLICIES)
    return [(name, decide(n, s, r)) for name, n, s, r in scenarios(rules)]


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


def _stored(decision: Decision, rung: int = 0) -> dict[str, Any]:
    """A record as it comes back out of the JSON column."""
    now = decision.facts.now if decision.facts else AT
    loaded: dict[str, Any] = json.loads(json.dumps(decision_record(decision, now, rung)))
    return loaded


def _old_steps(words: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"rule": rule, "channel": channel, "ok": ok, "detail": detail}
        for rule, channel, ok, detail in words["trace"]
    ]


def test_a_stored_decision_holds_codes_and_values_and_no_sentence(
    decided: list[tuple[str, Decision]], golden: dict[str, dict[str, Any]]
) -> None:
    for name, decision in decided:
        stored = _stored(decision)
        text = json.dumps(stored, ensure_ascii=False)
        words = golden[name]
        sentences = [d for _, _, _, d in words["trace"]] + [words.get("reason", "")]
        assert not [s for s in sentences if len(s) > 12 and s in text], name
        assert set(stored) <= SHORT_KEYS, name
        heads = [group[0] for group in stored["t"]]  # each channel named once, not per step
        assert len(heads) == len(set(heads)) and sum(map(len, stored["t"])) == len(
            decision.trace
        ) + len(heads)


def test_a_stored_decision_reads_back_in_the_words_written_before_codes(
    decided: list[tuple[str, Decision]], golden: dict[str, dict[str, Any]]
) -> None:
    for name, decision in decided:
        record = readable(_stored(decision, rung=2))
        words = golden[name]
        assert record["trace"] == _old_steps(words), name
        assert record["rung"] == 2 and record["type"] == words["type"]
        assert record.get("reason") == words.get("reason"), name
        if words["type"] == "send":
            assert (record["channel"], record["at"], record["caps"]) == (
                words["channel"],
                words["at"],
                words["caps"],
            )
        said = decision_words(decision)  # what `outbound send --json` prints
        assert list(said) == OLD_KEYS[words["type"]], name
        assert {k: v for k, v in said.items() if k != "at"} == {
            k: v for k, v in record.items() if k not in ("at", "rung")
        }


def test_the_audit_summary_keeps_only_the_verdict_and_the_rules_that_said_no(
    decided: list[tuple[str, Decision]], golden: dict[str, dict[str, Any]]
) -> None:
    for name, decision in decided:
        summary = json.loads(json.dumps(decision_summary(_stored(decision))))
        words = golden[name]
        failed = [s for s in _old_steps(words) if not s["ok"]]
        read = readable_summary(summary)
        assert read["trace"] == (failed or "all rules passed"), name
        assert read.get("reason") == words.get("reason") and "at" not in read, name
        if not failed:
            assert summary == {"v": "send", "ch": words["channel"], "caps": words["caps"]} or (
                summary == {"v": "send", "ch": words["channel"]} and not words["caps"]
            )


def test_a_record_stored_as_prose_before_codes_is_read_as_it_is() -> None:
    old = {
        "at": "2026-11-26T15:00:00+00:00",
        "rung": 0,
        "trace": [{"rule": "expiry", "channel": None, "ok": True, "detail": "no expiry"}],
        "type": "suppress",
        "code": "expired",
        "reason": "expired",
    }
    assert readable(old) == old
    summary = {"trace": "all rules passed", "type": "send", "channel": "sms", "caps": []}
    assert readable_summary(summary) == summary


def test_instants_keep_their_iso_text_through_the_stored_form() -> None:
    rng = random.Random(9)
    berlin = ZoneInfo("Europe/Berlin")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(5000):
        at = base + timedelta(seconds=rng.randrange(10**9), microseconds=rng.randrange(10**6))
        for value in (at, at.replace(microsecond=0), at.astimezone(berlin)):
            back = instant(json.loads(json.dumps(stamp(value))))
            assert back.isoformat() == value.isoformat()
            assert back.astimezone(UTC) == value.astimezone(UTC)
    assert stamp(datetime(2026, 12, 1, 15, 0, tzinfo=UTC)) == 1_796_137_200


def test_a_code_from_a_newer_version_is_shown_as_its_code_and_values() -> None:
    step = TraceStep(Channel.SMS, Note("quiet_hours:siesta", ("13:00-16:00",)))
    assert (step.rule, step.ok, step.detail) == (
        "quiet_hours",
        True,
        "quiet_hours:siesta:13:00-16:00",
    )


def test_a_handover_to_another_worker_reads_as_before() -> None:
    facts = Facts(AT, "US")
    handover = Defer(AT, Channel.VOICE, Note("wait:handover"), ())
    assert handover.reason == "handed to a worker of this channel"
    assert facts.zones == () and handover.facts is None


def test_a_packed_record_reads_the_same_as_the_mapping_stored_before_packing(
    decided: list[tuple[str, Decision]], golden: dict[str, dict[str, Any]]
) -> None:
    verdicts = set()
    for name, decision in decided:
        record = _stored(decision, rung=1)
        packed = json.loads(json.dumps(pack(record)))
        verdicts.add(record["v"])
        assert isinstance(packed, list) and len(packed) - len(PACKED) in (0, 1), name
        assert unpack(packed) == record, name
        assert readable(packed) == readable(record), name
        assert readable(packed)["trace"] == _old_steps(golden[name]), name
    assert verdicts == {"send", "defer", "suppress"}


def test_a_packed_record_is_smaller_than_its_mapping(decided: list[tuple[str, Decision]]) -> None:
    for name, decision in decided:
        record = _stored(decision)
        compact = {"separators": (",", ":")}
        assert len(json.dumps(pack(record), **compact)) < len(json.dumps(record, **compact)), name


def test_stored_codes_name_their_rule_by_a_letter_and_full_codes_still_read() -> None:
    assert Note("quiet_hours:open", ("08:00-21:00",)).to_json() == ["q:open", "08:00-21:00"]
    assert Note.from_json(["q:open", "08:00-21:00"]) == Note("quiet_hours:open", ("08:00-21:00",))
    assert Note.from_json("suppression:clear") == Note("suppression:clear")  # stored in full
    shorts = {short_code(code) for code in KNOWN_CODES}
    assert len(shorts) == len(KNOWN_CODES)
    assert all(len(short_code(c)) < len(c) and full_code(short_code(c)) == c for c in KNOWN_CODES)
    assert full_code(short_code("quiet_hours:siesta")) == "quiet_hours:siesta"  # from a newer one
    assert short_code("unlisted:code") == "unlisted:code" == full_code("unlisted:code")


def test_a_record_stored_with_full_codes_reads_the_same(
    decided: list[tuple[str, Decision]],
) -> None:
    def full(value: Any) -> Any:  # the record as stored before codes were shortened
        if isinstance(value, str):
            return full_code(value)
        if isinstance(value, list):
            return [full(v) for v in value]
        return value

    for name, decision in decided:
        record = _stored(decision)
        old = {**record, "t": full(record["t"])}
        if "why" in record:
            old["why"] = full(record["why"])
        assert old != record and readable(old) == readable(record), name
        assert readable_summary(decision_summary(old)) == readable_summary(
            decision_summary(record)
        ), name
