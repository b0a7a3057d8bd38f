"""Decisions are stored as codes and values; ``why``, the API and ``customer show`` read the
same words as before, for new rows and for rows stored as prose before codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from outbound import bootstrap
from outbound.store.tables import audit_events, notifications
from tests.conftest import FrozenClock
from tests.integration.trace_story import GOLDEN, play, readings

AppFactory = Callable[..., bootstrap.App]


def _golden() -> tuple[str, dict[str, Any]]:
    text = (GOLDEN / "why.txt").read_text(encoding="utf-8")
    return text, json.loads((GOLDEN / "readings.json").read_text(encoding="utf-8"))


def _sentences(data: dict[str, Any]) -> set[str]:
    """Every sentence the old code stored: step details and reasons (longer than a code)."""
    found = set()
    for records in data["decisions"].values():
        for record in records:
            found |= {step["detail"] for step in record["trace"]}
            found.add(record.get("reason", ""))
    return {s for s in found if len(s) > 12}


def test_why_and_customer_show_read_the_words_written_before_codes(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app()
    text, data = readings(app, play(app, clock))
    golden_text, golden_data = _golden()
    assert text == golden_text
    assert data == golden_data


def test_stored_decisions_and_their_audit_summaries_hold_no_sentences(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app()
    play(app, clock)
    with app.engine.begin() as conn:
        stored = [json.dumps(d) for d in conn.execute(select(notifications.c.decisions)).scalars()]
        events = [json.loads(d) for d in conn.execute(select(audit_events.c.data)).scalars()]
    summaries = [json.dumps(e["decision"]) for e in events if "decision" in e]
    sentences = _sentences(_golden()[1])
    assert len(summaries) == 8 and len(stored) == 4
    assert sentences and not [s for s in sentences if any(s in row for row in stored + summaries)]
    assert not any('"detail"' in row or '"reason"' in row for row in stored + summaries)


def test_rows_stored_as_prose_before_codes_read_the_same(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app()
    ids = play(app, clock)
    golden_text, golden_data = _golden()
    old_events = {e["seq"]: e["data"] for events in golden_data["events"].values() for e in events}
    with app.engine.begin() as conn:
        for name, nid in ids.items():  # the decisions as the old code stored them
            old = golden_data["decisions"][name]
            conn.execute(
                update(notifications).where(notifications.c.id == nid).values(decisions=old)
            )
        for seq, data in old_events.items():  # and the audit summaries (canonical JSON)
            canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            conn.execute(
                update(audit_events).where(audit_events.c.seq == seq).values(data=canonical)
            )
        prose = conn.execute(select(notifications.c.decisions)).scalars().first()
    assert prose is not None and "detail" in prose[0]["trace"][0]
    text, data = readings(app, ids)
    assert text == golden_text
    assert data == golden_data
