"""Decisions as stored — codes and values under short keys — and as read: in words.

A stored decision (``decision_to_json``; ``notifications.decisions`` keeps one record per
decision, with ``at`` and ``r``)::

    at    when it was decided, an Instant (outbound.domain.trace.stamp)
    r     the ladder rung
    v     the verdict: send | defer | suppress
    ch    the channel (send; defer when it names one)
    sa    the send time, when it is not ``at``          caps  cap keys reserved (send, if any)
    u     until (defer)                                 code  the SuppressCode (suppress)
    why   the reason as a note: code, or [code, *values] (defer, suppress)
    j     jurisdiction; tz  the time zones named; tz+  how many more; now  the policy's clock,
          when it is not ``at``
    t     the trace: runs of one channel's steps, [channel or null, note, note, …]

In the column a record is packed (``pack``): the values of ``PACKED`` in that order (null when
absent), then — only if the record has any — a mapping of the other keys. Records stored as
mappings before that read the same (``unpack``).

The audit event keeps a summary (``decision_summary``): the same without ``r``, with only the
steps that said no — and for a send that every rule passed, only ``v``, ``ch`` and ``caps``;
a summary stays a mapping (its keys are part of the event's canonical text).

``decision_words`` / ``readable`` / ``readable_summary`` give the forms readers always saw, with
every sentence rendered; records stored before codes (``type``, prose ``detail`` and
``reason``) are passed through as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from outbound.domain.trace import Facts, Note, instant, passed, stamp, stored_code
from outbound.domain.values import Channel, Decision, Defer, Send, TraceStep

_FACT_KEYS = ("at", "j", "tz", "tz+", "now")
#: The keys a packed record holds by position; the rest follow in a mapping.
PACKED = ("at", "r", "v", "ch", "caps", "j", "tz", "t")
_PACKED_SET = frozenset(PACKED)


def decision_to_json(decision: Decision, at: datetime | None = None) -> dict[str, Any]:
    """The decision as codes and values; ``at``: the record's time (not repeated inside)."""
    out: dict[str, Any]
    if isinstance(decision, Send):
        out = {"v": "send", "ch": decision.channel.value}
        if not _same(decision.at, at):
            out["sa"] = stamp(decision.at)
        if decision.caps:
            out["caps"] = [c.key for c in decision.caps]
    elif isinstance(decision, Defer):
        out = {"v": "defer", "u": stamp(decision.until)}
        if decision.channel is not None:
            out["ch"] = decision.channel.value
        out["why"] = decision.why.to_json()
    else:
        out = {"v": "suppress", "code": decision.code.value, "why": decision.why.to_json()}
    facts = decision.facts
    if facts is not None:
        out["j"] = facts.jurisdiction
        if facts.zones:
            out["tz"] = list(facts.zones)
        if facts.more_zones:
            out["tz+"] = facts.more_zones
        if not _same(facts.now, at):
            out["now"] = stamp(facts.now)
    out["t"] = _groups(decision.trace)
    return out


def _same(value: datetime, at: datetime | None) -> bool:
    """``value`` is ``at`` to the reader: the same instant with the same ISO text."""
    return at is not None and value == at and value.utcoffset() == at.utcoffset()


def _groups(trace: tuple[TraceStep, ...]) -> list[list[Any]]:
    groups: list[list[Any]] = []
    group: list[Any] = [0]  # no run yet
    for step in trace:
        if step.channel != group[0]:  # a Channel is a str: it goes into JSON as its value
            group = [step.channel]
            groups.append(group)
        group.append(step.note.to_json())
    return groups


def decision_record(decision: Decision, now: datetime, rung: int) -> dict[str, Any]:
    """The decision as stored in ``notifications.decisions``: codes and values, no sentences
    (``readable`` gives the words). Planning (rung 0) and every claim's re-check write it."""
    return {"at": stamp(now), "r": rung, **decision_to_json(decision, now)}


def decision_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit event keeps of a stored decision: its verdict and every rule that said no."""
    failed = [[g[0], *(n for n in g[1:] if not passed(stored_code(n)))] for g in record["t"]]
    failed = [g for g in failed if len(g) > 1]
    out = {k: v for k, v in record.items() if k not in ("r", "t")}
    if failed:
        out["t"] = failed
    elif out["v"] == "send":  # nothing to put in words: the clock and the zones are not needed
        out = {k: v for k, v in out.items() if k not in _FACT_KEYS}
    return out


def is_stored_prose(record: Mapping[str, Any]) -> bool:
    """A record from before codes and values (its sentences stored with it)."""
    return "v" not in record


def trace_of(data: Mapping[str, Any]) -> tuple[TraceStep, ...]:
    """The steps of a stored decision (or summary), each able to put itself in words."""
    facts = _facts(data)
    return tuple(
        TraceStep(Channel(group[0]) if group[0] else None, Note.from_json(note), facts)
        for group in data.get("t", ())
        for note in group[1:]
    )


def _facts(data: Mapping[str, Any]) -> Facts | None:
    if "j" not in data:
        return None
    return Facts(
        instant(data["now"] if "now" in data else data["at"]),
        data["j"],
        tuple(data.get("tz", ())),
        int(data.get("tz+", 0)),
    )


def _words(data: Mapping[str, Any]) -> dict[str, Any]:
    """The decision as readers saw it before codes: type, channel, times, reason, trace."""
    facts = _facts(data)
    out: dict[str, Any] = {
        "trace": [
            {
                "rule": s.rule,
                "channel": s.channel.value if s.channel else None,
                "ok": s.ok,
                "detail": s.detail,
            }
            for s in trace_of(data)
        ],
        "type": data["v"],
    }
    channel = data.get("ch")
    if data["v"] == "send":
        sent = data.get("sa", data.get("at"))
        out.update(channel=channel, at=instant(sent).isoformat() if sent is not None else None)
        out["caps"] = list(data.get("caps", ()))
    elif data["v"] == "defer":
        reason = Note.from_json(data["why"]).text(channel or "", facts)
        out.update(until=instant(data["u"]).isoformat(), channel=channel, reason=reason)
    else:
        out.update(code=data["code"], reason=Note.from_json(data["why"]).text("", facts))
    return out


def decision_words(decision: Decision) -> dict[str, Any]:
    """A decision in the form readers always saw (``outbound send --json``)."""
    return _words(decision_to_json(decision))


def pack(record: Mapping[str, Any]) -> list[Any]:
    """A decision record as ``notifications.decisions`` holds it: positions instead of keys."""
    out = [record.get(key) for key in PACKED]
    rest = {k: v for k, v in record.items() if k not in _PACKED_SET}
    if rest:
        out.append(rest)
    return out


def unpack(stored: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """A stored record as a mapping, packed or not (stored before packing, or as prose)."""
    if isinstance(stored, Mapping):
        return dict(stored)
    out = {key: value for key, value in zip(PACKED, stored, strict=False) if value is not None}
    if len(stored) > len(PACKED):
        out.update(stored[len(PACKED)])
    return out


def readable(stored: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """A stored decision record as readers always saw it (``why``, the API), any form."""
    record = unpack(stored)
    if is_stored_prose(record):
        return record
    return {"at": instant(record["at"]).isoformat(), "rung": record["r"], **_words(record)}


def readable_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """An audit event's decision summary as readers always saw it, either form."""
    if is_stored_prose(summary):
        return dict(summary)
    words = _words(summary)
    words.pop("at", None)
    return {**words, "trace": words["trace"] or "all rules passed"}
