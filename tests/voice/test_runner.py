"""The flow runner against a scripted CallSession: the same flows a real call runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from outbound.domain.values import Intent
from outbound.voice.flow import flows_dir, load_kind
from outbound.voice.runner import Grammar, Heard, PlayEnd, RunResult, run_flow

VALUES = {"brand": "Shop", "callback": "1 800 555 0100", "agent_uri": "sip:agent@127.0.0.1"}


@dataclass
class ScriptedSession:
    answers: list[Heard]
    speech: bool = True
    plays: Sequence[PlayEnd] = ()
    agent_free: bool = True
    said: list[str] = field(default_factory=list)
    transferred_to: list[str] = field(default_factory=list)
    hung_up: bool = False

    def play(self, text: str, *, locale: str, barge_in: bool) -> PlayEnd:
        self.said.append(text)
        return self.plays[len(self.said) - 1] if len(self.said) <= len(self.plays) else PlayEnd.DONE

    def listen(self, grammar: Grammar, *, locale: str, timeout: float) -> Heard:
        return self.answers.pop(0) if self.answers else Heard()

    def transfer(self, target: str) -> bool:
        self.transferred_to.append(target)
        return self.agent_free

    def hangup(self) -> None:
        self.hung_up = True


def _run(kind: str, session: ScriptedSession, locale: str = "en-US") -> RunResult:
    return run_flow(load_kind(kind, flows_dir()), session, locale, {**VALUES, "tier": "Gold"})


def test_first_prompt_identifies_business_and_offers_opt_out() -> None:
    session = ScriptedSession([Heard(dtmf="2")])
    _run("shipping", session)
    assert session.said[0].startswith("Hello, this is Shop. To stop these calls, press 9")


def test_renewal_yes_by_speech_confirms_and_asks_for_sms_link() -> None:
    session = ScriptedSession([Heard(text="yes", confidence=0.9)])
    result = _run("renewal", session)
    assert result.intent is Intent.CONFIRMED
    assert result.actions == ["send_sms_link"]
    assert result.transcript == ["yes"] and result.confidence == 0.9
    assert session.hung_up


def test_price_drop_key_2_sends_sms_link_in_korean() -> None:
    session = ScriptedSession([Heard(dtmf="2")])
    result = _run("price_drop", session, "ko-KR")
    assert result.actions == ["send_sms_link"]
    assert "링크" in session.said[-1]


def test_repeat_then_confirm_plays_the_prompt_twice() -> None:
    session = ScriptedSession([Heard(dtmf="1"), Heard(dtmf="2")])
    result = _run("shipping", session)
    assert result.intents == ["repeat", "confirm"] and result.dtmf == "12"
    assert session.said[0] == session.said[1]
    assert result.intent is Intent.CONFIRMED


def test_silence_gets_one_reprompt_then_goodbye() -> None:
    session = ScriptedSession([])
    result = _run("shipping", session)
    assert result.intent is Intent.NO_INPUT
    assert result.intents == ["no_input", "no_input"]
    assert len(session.said) == 3 and "did not hear" in session.said[-1]


def test_stop_in_chinese_returns_opt_out_action_and_says_goodbye() -> None:
    session = ScriptedSession([Heard(text="停止")])
    result = _run("shipping", session, "zh-CN")
    assert result.intent is Intent.OPT_OUT and result.actions == ["opt_out"]
    assert "退订" in session.said[-1] and session.hung_up


def test_agent_key_transfers_to_configured_uri() -> None:
    session = ScriptedSession([Heard(dtmf="0")])
    result = _run("renewal", session)
    assert result.transferred and session.transferred_to == ["sip:agent@127.0.0.1"]
    assert result.intent is Intent.AGENT


def test_failed_transfer_gives_callback_number() -> None:
    session = ScriptedSession([Heard(dtmf="0")], agent_free=False)
    result = _run("shipping", session)
    assert not result.transferred and "1 800 555 0100" in session.said[-1]


def test_locale_without_speech_model_asks_for_keys() -> None:
    session = ScriptedSession([Heard(dtmf="9")], speech=False)
    _run("shipping", session, "en-US")
    assert session.said[0].endswith("Please answer with your phone keypad.")


def test_unrecognised_words_count_as_not_understood() -> None:
    session = ScriptedSession([Heard(text="banana"), Heard(text="banana")])
    result = _run("shipping", session)
    assert result.intent is Intent.NOT_UNDERSTOOD


def test_answering_machine_gets_voicemail_with_callback_and_hangup() -> None:
    session = ScriptedSession([], plays=[PlayEnd.MACHINE])
    result = _run("shipping", session)
    assert result.voicemail and session.hung_up
    assert "1 800 555 0100" in session.said[-1]


def test_hangup_mid_prompt_is_recorded() -> None:
    session = ScriptedSession([], plays=[PlayEnd.HANGUP])
    result = _run("shipping", session)
    assert result.callee_hung_up and len(session.said) == 1


def test_korean_locale_prefix_matches_flow_locale() -> None:
    session = ScriptedSession([Heard(text="상담원")])
    result = _run("shipping", session, "ko")
    assert result.intent is Intent.AGENT


def test_low_confidence_speech_is_asked_again_and_stop_outranks_yes() -> None:
    session = ScriptedSession(
        [Heard(text="네 확인", confidence=0.55), Heard(text="그만 예 그만", confidence=0.9)]
    )
    result = _run("shipping", session, "ko-KR")
    assert result.intents == ["not_understood", "stop"]
    assert result.intent is Intent.OPT_OUT and result.actions == ["opt_out"]
    assert result.transcript == ["네 확인", "그만 예 그만"]


def test_weakly_heard_stop_is_honoured_but_a_weak_yes_is_asked_again() -> None:
    grammar = Grammar(
        phrases={"stop": ("그만", "중지"), "confirm": ("예", "네")},
        keys={"9": "stop", "2": "confirm"},
    )
    assert grammar.match(Heard(text="그만", confidence=0.45)) == "stop"
    assert grammar.match(Heard(text="네", confidence=0.45)) is None
    assert grammar.match(Heard(text="그만", confidence=0.2)) is None  # too weak even for stop
    assert grammar.match(Heard(text="네", confidence=0.9)) == "confirm"


def test_a_stop_in_any_hypothesis_beats_a_confident_yes() -> None:
    grammar = Grammar(
        phrases={"stop": ("그만", "중지"), "confirm": ("예", "네")},
        keys={"9": "stop", "2": "confirm"},
    )
    # the best path says "예" (the stop word was lost in noise), an n-best entry says stop
    heard = Heard(text="예", confidence=0.95, alternatives=("예", "그만 예", "네"))
    assert grammar.match(heard) == "stop"
    assert grammar.match(Heard(text="예", confidence=0.95, alternatives=("예", "네"))) == "confirm"
    # nothing said at all: a hypothesis alone does not opt anyone out
    assert grammar.match(Heard(text="", alternatives=("그만",))) is None


def test_a_spoken_stop_heard_as_yes_with_a_stop_alternative_opts_out_in_the_flow() -> None:
    session = ScriptedSession([Heard(text="예", confidence=0.9, alternatives=("그만 그만", "예"))])
    result = _run("shipping", session, "ko-KR")
    assert result.intent is Intent.OPT_OUT and result.actions == ["opt_out"]


def test_a_yes_the_recogniser_splits_between_phrases_of_yes_is_confirmed() -> None:
    grammar = Grammar(
        phrases={"stop": ("그만",), "confirm": ("예", "예 예", "네"), "agent": ("상담원",)},
        keys={},
    )
    # a live call's "예": the best word at 0.53, its n-best all ways of saying yes
    split = (("예", 0.378), ("네", 0.298), ("예 예", 0.248), ("예 네", 0.076))
    heard = Heard(text="예", confidence=0.53, nbest=split)
    assert grammar.match(heard) == "confirm" and grammar.confidence(heard) == 1.0
    # a split with another intent, or with nothing said, is still asked again
    torn = Heard(text="예", confidence=0.5, nbest=(("예", 0.5), ("상담원", 0.5)))
    assert grammar.match(torn) is None and grammar.confidence(torn) == 0.5
    faint = Heard(text="예", confidence=0.45, nbest=(("예", 0.4), ("네", 0.15), ("", 0.45)))
    assert grammar.match(faint) is None and grammar.confidence(faint) == 0.55
    # without an n-best (PocketSphinx's one phrase, a test) the words' confidence decides
    assert grammar.match(Heard(text="예", confidence=0.55)) is None


def test_the_outcome_records_the_confidence_of_the_intent() -> None:
    split = (("예", 0.378), ("네", 0.298), ("예 예", 0.248), ("예 네", 0.076))
    session = ScriptedSession([Heard(text="예", confidence=0.53, nbest=split)])
    result = _run("shipping", session, "ko-KR")
    assert (result.intents, result.confidence) == (["confirm"], 1.0)


def test_a_stop_heard_after_a_misheard_yes_is_in_the_transcript_of_the_opt_out() -> None:
    # "그만 그만" with a breath: the first heard as "네" (the answer's words), the second in the
    # turn's tail; the opt-out's transcript shows both, not a bare "네"
    heard = Heard(text="네", confidence=1.0, alternatives=("네", "그만"), tail="그만")
    result = _run("shipping", ScriptedSession([heard]), "ko-KR")
    assert (result.intent, result.transcript) == (Intent.OPT_OUT, ["네 그만"])


def test_a_yes_heard_beside_words_outside_the_grammar_is_asked_again_then_not_understood() -> None:
    # "아니요" (no) heard as an unknown word and a "네": not a yes, however sure the "네"
    beside = Heard(text="네", confidence=1.0, nbest=(("네", 0.7), ("", 0.3)), unknown=True)
    alone = Heard(text="", unknown=True)  # heard as nothing but the unknown word
    result = _run("shipping", ScriptedSession([beside, alone]), "ko-KR")
    assert (result.intents, result.intent) == (["not_understood"] * 2, Intent.NOT_UNDERSTOOD)
    assert result.transcript == ["네"] and result.actions == []
    assert result.confidence == 1.0  # the words' own, no share of a yes added to it


def test_a_stop_or_an_agent_beside_words_outside_the_grammar_still_counts() -> None:
    grammar = Grammar(
        phrases={"stop": ("그만",), "confirm": ("예", "네"), "agent": ("상담원",)}, keys={}
    )
    # a stop in any hypothesis wins, also when the answer itself was nothing understood
    assert grammar.match(Heard(text="", alternatives=("그만",), unknown=True)) == "stop"
    stop_beside = Heard(text="네", confidence=1.0, alternatives=("네 그만",), unknown=True)
    assert grammar.match(stop_beside) == "stop"
    assert grammar.match(Heard(text="상담원", confidence=1.0, unknown=True)) == "agent"
    assert grammar.match(Heard(text="네", confidence=1.0, unknown=True)) is None
    assert grammar.match(Heard(text="", alternatives=("그만",))) is None  # silence: no stop
