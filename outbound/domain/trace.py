"""A rule's finding as a code and its values; the sentence is rendered when someone reads it.

The policy records every rule it evaluates as a ``Note``: a code ``<rule>:<finding>`` (e.g.
``quiet_hours:open``) and the values the sentence needs (``("08:00-21:00",)``). What all the
notes of one decision share — the instant, the jurisdiction, the candidate time zones — is
``Facts``, kept once per decision. Storing codes and values instead of sentences keeps a stored
decision small; ``render`` turns them back into exactly the sentences the policy used to write,
so what a reader sees does not change.

Values are JSON scalars and tuples of them; an instant is stored as an ``Instant`` (see
``stamp``), a daily window as ``"HH:MM-HH:MM"``, a day as ``"YYYY-MM-DD"``. A stored code names
its rule by one letter (``RULE_LETTERS``: ``quiet_hours:open`` is stored as ``q:open``); codes
stored in full before that read the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: An instant as stored: whole UTC seconds (int), UTC seconds with microseconds (float), or
#: ISO 8601 text when the instant carries a non-zero UTC offset.
Instant = int | float | str

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_COMMON_WINDOW = "no common contact window across candidate time zones"
#: How many candidate time zones a sentence names (the rest are counted).
SHOWN_ZONES = 3


def stamp(value: datetime) -> Instant:
    """``value`` as stored; ``instant`` gives it back, so its ISO text is unchanged.

    Microseconds survive the float: at today's epoch seconds a double is exact to ~0.24 µs,
    and ``instant`` rounds to the nearest microsecond.
    """
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"instant must be timezone-aware, got naive {value!r}")
    if offset:
        return value.isoformat()
    micros = (value - EPOCH) // timedelta(microseconds=1)
    return micros // 1_000_000 if micros % 1_000_000 == 0 else micros / 1_000_000


def instant(value: Instant) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(value, int):
        return EPOCH + timedelta(seconds=value)
    return EPOCH + timedelta(microseconds=round(value * 1_000_000))


@dataclass(frozen=True)
class Facts:
    """What every note of one decision was judged against."""

    now: datetime
    jurisdiction: str
    zones: tuple[str, ...] = ()  # the candidate time zones a sentence names
    more_zones: int = 0  # how many candidate zones there are beyond those

    @classmethod
    def of(cls, now: datetime, jurisdiction: str, zones: tuple[str, ...]) -> Facts:
        return cls(now, jurisdiction, zones[:SHOWN_ZONES], max(len(zones) - SHOWN_ZONES, 0))


@dataclass(frozen=True)
class Note:
    """A code and its values: a rule's finding (a trace step) or why a decision was made."""

    code: str
    args: tuple[Any, ...] = ()

    @property
    def rule(self) -> str:
        return self.code.partition(":")[0]

    @property
    def ok(self) -> bool:
        return passed(self.code)

    def text(self, channel: str, facts: Facts | None) -> str:
        """The sentence for this note about ``channel`` ('' for none), in ``facts``."""
        known = _TEXTS.get(self.code)
        if known is None:
            return _unknown(self.code, self.args, channel, facts)
        return known[1](self.code, self.args, channel, facts)

    def to_json(self) -> str | list[Any]:
        code = short_code(self.code)
        return [code, *self.args] if self.args else code

    @classmethod
    def from_json(cls, data: str | list[Any]) -> Note:
        if isinstance(data, str):
            return cls(full_code(data))
        return cls(full_code(str(data[0])), tuple(_frozen(v) for v in data[1:]))


#: The letter a stored code names its rule by (``<letter>:<finding>``).
RULE_LETTERS = {
    "attempts": "a",
    "cap": "k",
    "consent": "c",
    "expiry": "e",
    "holiday": "h",
    "ladder": "l",
    "quiet_hours": "q",
    "reachable": "r",
    "state_window": "s",
    "skip": "x",
    "suppress": "z",
    "suppression": "d",
    "wait": "w",
}
_RULES = {letter: rule for rule, letter in RULE_LETTERS.items()}


def short_code(code: str) -> str:
    """``code`` as stored: ``quiet_hours:open`` -> ``q:open`` (a rule not listed stays whole)."""
    known = _SHORT.get(code)
    if known is not None:
        return known
    rule, colon, finding = code.partition(":")
    letter = RULE_LETTERS.get(rule)
    return f"{letter}:{finding}" if letter and colon else code


def full_code(stored: str) -> str:
    """A stored code in full; also one stored whole (before letters, or of an unlisted rule)."""
    known = _FULL.get(stored)
    if known is not None:
        return known
    rule, colon, finding = stored.partition(":")
    name = _RULES.get(rule)
    return f"{name}:{finding}" if name and colon else stored


def passed(code: str) -> bool:
    """Whether a finding let the contact go ahead (a code not known here counts as ok)."""
    known = _TEXTS.get(code)
    return known is None or known[0]


def stored_code(note: str | list[Any]) -> str:
    """The code of a stored note, in full, without building the note."""
    return full_code(note if isinstance(note, str) else str(note[0]))


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


Render = Callable[[str, tuple[Any, ...], str, "Facts | None"], str]


def _unknown(code: str, args: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """A code this version does not know (written by a newer one): shown as code and values."""
    return ":".join([code, *(str(a) for a in args)])


def _facts(facts: Facts | None) -> Facts:
    if facts is None:
        raise ValueError("this note needs the decision's facts (time, zones) to be put in words")
    return facts


def _iso(value: Instant) -> str:
    return instant(value).isoformat()


def _local(at: datetime, facts: Facts) -> str:
    """'Wed 22:30 EDT in America/New_York, …' (the named zones, then a count of the rest)."""
    parts = []
    for name in facts.zones:
        local = at.astimezone(ZoneInfo(name))
        parts.append(f"{local:%a %H:%M} {local.tzname()} in {name}")
    if facts.more_zones:
        parts.append(f"and {facts.more_zones} more zones")
    return ", ".join(parts)


def _span(window: str, channel: str, facts: Facts) -> str:
    return f"{channel} window {window.replace('-', '–')} ({facts.jurisdiction})"


def _when_how(args: tuple[Any, ...]) -> str:
    """A consent record's day, and its source when it has one: ``(day[, source])``."""
    return f"{args[0]} via {args[1]}" if len(args) > 1 and args[1] else str(args[0])


def _expiry(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    text = f"expires at {_iso(a[0])}; now is {_facts(facts).now.isoformat()}"
    return text if code == "expiry:ok" else f"expired: {text}"


def _ladder(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``(kind, purpose, country, channels to try, channels already tried)``."""
    kind, purpose, country, order, tried = a
    f = _facts(facts)
    zones = ", ".join(f.zones) or "unknown"
    if f.more_zones:
        zones += f" (+{f.more_zones} more)"
    return (
        f"{kind} ({purpose}) under {f.jurisdiction} rules for country {country or 'unknown'}; "
        f"time zones: {zones}; try {' > '.join(order) or 'nothing'}; "
        f"already tried: {', '.join(tried) or 'none'}"
    )


def _quiet(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``(window[, opening])``."""
    f = _facts(facts)
    span = _span(a[0], channel, f)
    finding = code.partition(":")[2]
    if finding == "unenforced":
        return f"time zone unknown; {span} not enforced"
    if finding == "fails_closed":
        return f"time zone unknown; {span} fails closed"
    if finding == "no_common":
        return f"{NO_COMMON_WINDOW}: {_local(f.now, f)}; {span}"
    if finding == "open":
        return f"open: {_local(f.now, f)}; {span}"
    opening = instant(a[1])
    return (
        f"closed: {_local(f.now, f)}; {span}; opens at {_local(opening, f)} ({opening.isoformat()})"
    )


def _holiday(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``(day, holiday name, next allowed instant)``."""
    f = _facts(facts)
    opening = instant(a[2])
    return (
        f"{a[1]} ({a[0]}): no {channel} contact on a public holiday; next allowed "
        f"{_local(opening, f)} ({opening.isoformat()})"
    )


def _cap(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``(name, legal, used, limit, window[, frees at])``; a rolling window is its days."""
    name, legal, used, limit, window = a[:5]
    span = f"rolling {window} days" if isinstance(window, int) else _CAP_SPANS[window]
    text = f"{name} ({'legal' if legal else 'operator'}): {used} of {limit} used in {span}"
    if code == "cap:reached":
        text += f"; cap reached, frees at {_iso(a[5]) if a[5] is not None else 'never'}"
    return text


_CAP_SPANS = {"day": "calendar day", "week": "ISO week"}


def _attempts(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``(name, calls in the window, limit, hours, source)``: a legal call-attempt limit."""
    name, used, limit, hours, source = a[:5]
    text = f"{name}, {source}: {used} of {limit} calls in {hours} h on this subject"
    return text + ("; limit reached" if code == "attempts:reached" else "")


def _skipped(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``((channel, code, *values), …)``: each channel and why it was skipped."""
    parts = [f"{e[0]}: {Note(e[1], tuple(e[2:])).text(e[0], facts)}" for e in a]
    return "no consented, reachable channel: " + "; ".join(parts)


def _expires_first(code: str, a: tuple[Any, ...], channel: str, facts: Facts | None) -> str:
    """``(next allowed time, channel, code, *values)``: the wait that ends too late."""
    wait = Note(a[2], tuple(a[3:])).text(a[1], facts)
    return f"expires before the next allowed time ({_iso(a[0])}; {wait})"


def _fixed(text: str, ok: bool = True) -> tuple[bool, Render]:
    return ok, lambda code, a, channel, facts: text


def _line(template: Callable[..., str], ok: bool = True) -> tuple[bool, Render]:
    """A sentence from the channel and the values: ``template(channel, *values)``."""
    return ok, lambda code, a, channel, facts: template(channel, *a)


_TEXTS: dict[str, tuple[bool, Render]] = {
    "expiry:none": _fixed("no expiry"),
    "expiry:ok": (True, _expiry),
    "expiry:passed": (False, _expiry),
    "ladder:try": (True, _ladder),
    "ladder:empty": (False, _ladder),
    "reachable:push": _fixed("push subscription on file"),
    "reachable:no_push": _fixed("no push subscription", ok=False),
    "reachable:phone": _line(lambda ch: f"phone number on file for {ch}"),
    "reachable:no_phone": _line(lambda ch: f"no phone number for {ch}", ok=False),
    "suppression:clear": _fixed("not on the do-not-contact list"),
    "suppression:listed": _line(lambda ch, why: f"on the do-not-contact list: {why}", ok=False),
    "consent:implied": _line(
        lambda ch, purpose, where: f"no consent record; {purpose} contact is implied in {where}"
    ),
    "consent:missing": _line(
        lambda ch, purpose: f"no explicit {ch} consent for {purpose} (needs an opt-in)", ok=False
    ),
    "consent:granted": _line(
        lambda ch, purpose, *rec: f"{ch} consent for {purpose} granted on {_when_how(rec)}"
    ),
    "consent:granted_written": _line(
        lambda ch, purpose, *rec: f"written {ch} consent for {purpose} granted on {_when_how(rec)}"
    ),
    "consent:revoked": _line(lambda ch, *rec: f"revoked on {_when_how(rec)}", ok=False),
    "consent:unwritten": _line(
        lambda ch, *rec: (
            "voice marketing needs written consent naming the number; "
            f"the grant of {_when_how(rec)} is not written"
        ),
        ok=False,
    ),
    "quiet_hours:none": _line(lambda ch: f"no quiet hours for {ch}"),
    "quiet_hours:unenforced": (True, _quiet),
    "quiet_hours:fails_closed": (False, _quiet),
    "quiet_hours:no_common": (False, _quiet),
    "quiet_hours:open": (True, _quiet),
    "quiet_hours:closed": (False, _quiet),
    "state_window:applies": _line(
        lambda ch, state, span, source: (
            f"{state} {ch} window {span.replace('-', '–')} is stricter than the federal one "
            f"({source})"
        )
    ),
    "holiday:closed": (False, _holiday),
    "cap:none": _fixed("no caps apply"),
    "cap:ok": (True, _cap),
    "cap:reached": (False, _cap),
    "attempts:ok": (True, _attempts),
    "attempts:reached": (False, _attempts),
    # why a channel was skipped, or a decision waits
    "skip:time_zone_unknown": _fixed("time zone unknown"),
    "skip:no_common_window": _fixed(NO_COMMON_WINDOW),
    "skip:cap_never_frees": _line(
        lambda ch, names: f"cap {', '.join(names)} reached and never frees"
    ),
    "wait:quiet_hours": (
        True,
        lambda code, a, ch, facts: "quiet hours: " + _quiet("quiet_hours:closed", a, ch, facts),
    ),
    "wait:holiday": (
        True,
        lambda code, a, ch, facts: "holiday: " + _holiday("holiday:closed", a, ch, facts),
    ),
    "wait:cap": _line(
        lambda ch, names, until: f"cap {', '.join(names)} reached until {_iso(until)}"
    ),
    "wait:handover": _fixed("handed to a worker of this channel"),
    # why a decision suppresses
    "suppress:expired": _fixed("expired"),
    "suppress:expires_first": (True, _expires_first),
    "suppress:ladder_exhausted": _fixed(
        "no channel left to try: every allowed channel was already tried"
    ),
    "suppress:no_channel": (True, _skipped),
}

#: Every code this version can put into words.
KNOWN_CODES = frozenset(_TEXTS)
_SHORT: dict[str, str] = {}
_SHORT.update({code: short_code(code) for code in KNOWN_CODES})
_FULL = {short: code for code, short in _SHORT.items()}
