"""The policy's findings, put into words at read time, are the sentences it used to write."""

from __future__ import annotations

import json

from outbound.domain.trace import KNOWN_CODES
from outbound.policy import decide
from outbound.policy.model import Rules
from tests.unit.policy.trace_corpus import GOLDEN, corpus, scenarios


def test_every_decision_of_the_corpus_reads_in_the_words_written_before_codes(
    rules: Rules,
) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = corpus(rules)
    assert now.keys() == golden.keys()
    for name, words in now.items():
        assert words == golden[name], name


def test_the_corpus_has_every_finding_a_rule_can_make(rules: Rules) -> None:
    seen: set[str] = set()
    for _, notification, snap, variant in scenarios(rules):
        decision = decide(notification, snap, variant)
        seen |= {s.note.code for s in decision.trace}
        why = getattr(decision, "why", None)
        if why is not None:
            seen.add(why.code)
            if why.code == "suppress:no_channel":
                seen |= {entry[1] for entry in why.args}  # (channel, code, *values)
            if why.code == "suppress:expires_first":
                seen.add(why.args[2])  # (until, channel, code, *values)
    assert KNOWN_CODES - seen == {"wait:handover"}  # only a worker hands over
