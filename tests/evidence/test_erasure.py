"""``customer forget``: personal data out of every table, the audit chain still verifies, the
number stays suppressed as a keyed hash, nothing more is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.domain.errors import ConfigError
from outbound.domain.pseudonyms import phone_hash
from outbound.domain.values import Channel, ConsentAction, Kind, Outcome, SendResult
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.services.people.erasure import forget
from outbound.store import audit, tables
from outbound.store.customers import insert_consent
from outbound.store.tables import consents, customers, deliveries, notifications, suppressions
from tests.integration.helpers import NY, ScriptedChannel, shipping, trigger

AppFactory = Callable[..., bootstrap.App]
KEY = "k3y-for-tests-0123456789abcdef"
TOKEN = "https://push.example/wp/TOKEN-abcdefghijklmnop-4321"
TRANSCRIPT = "this is Annabel Quist at 12 Elm Street"


def _app(make_app: AppFactory) -> bootstrap.App:
    return make_app(privacy={"erasure_key": KEY})


def _import(app: bootstrap.App, ext: str, phone: str, **extra: Any) -> int:
    raw = {
        "external_id": ext,
        "name": "Annabel Quist",
        "phone": phone,
        "preference": "voice>sms",
        "wishlist": "SKU-SECRET-1",
        "push_token": TOKEN,
        "push_kind": "webpush",
        **extra,
    }
    with app.engine.begin() as conn:
        cid, _ = upsert_customer(
            conn,
            validate_record(raw),
            now=app.clock(),
            actor="test",
            source="test",
            erasure_key=app.erasure_key(),
        )
    return cid


def _answered(message: Any) -> SendResult:
    return SendResult(Outcome.ANSWERED, None, {"intent": "confirm", "transcript": TRANSCRIPT})


def _dump(app: bootstrap.App, *, audit_log: bool) -> str:
    """Every row of every table as text: the audit log alone, or everything else."""
    meta = tables.metadata  # the declared column types read timestamps in either stored form
    with app.engine.begin() as conn:
        return "\n".join(
            json.dumps([list(r) for r in conn.execute(select(t))], default=str)
            for t in meta.sorted_tables
            if (t.name == "audit_events") == audit_log
        )


def _forget(app: bootstrap.App, ref: str) -> Any:
    with app.engine.begin() as conn:
        return forget(
            conn,
            ref,
            key=app.erasure_key() or b"",
            reason="GDPR request 4711",
            actor="dpo",
            now=app.clock(),
        )


def test_forget_erases_name_phone_token_wishlist_transcript_and_payload(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    cid = _import(app, "C1001", NY)
    trigger(app, Kind.SHIPPING, cid, shipping("ORDER-77"))
    voice = ScriptedChannel(Channel.VOICE, _answered)
    assert app.dispatcher({Channel.VOICE: voice}).run_once() == 1  # type: ignore[dict-item]
    personal = (TRANSCRIPT, "Annabel", NY, "TOKEN-abc", "SKU-SECRET")
    before = _dump(app, audit_log=False)
    assert all(s in before for s in (*personal, "ORDER-77", "C1001"))

    done = _forget(app, "C1001")

    after = _dump(app, audit_log=False)
    for value in (*personal, "ORDER-77", "C1001"):
        assert value not in after, value
    assert done.pseudonym.startswith("erased:") and done.pseudonym in after
    # the chain is not rewritten: it never held these in the first place
    chain = _dump(app, audit_log=True)
    assert not [value for value in personal if value in chain]


def test_audit_chain_verifies_after_forget_and_keeps_who_when_why(make_app: AppFactory) -> None:
    app = _app(make_app)
    cid = _import(app, "C1001", NY)
    trigger(app, Kind.SHIPPING, cid, shipping())
    done = _forget(app, "C1001")
    with app.engine.begin() as conn:
        result = audit.verify(conn)
        row = conn.execute(
            select(audit.audit_events).where(audit.audit_events.c.seq == done.audit_seq)
        ).one()
    assert result.ok, result.problem
    assert (row.actor, row.action, row.subject) == ("dpo", "customer.erased", f"customer#{cid}")
    assert row.at == app.clock()
    data = json.loads(row.data)
    assert data["reason"] == "GDPR request 4711" and data["pseudonym"] == done.pseudonym
    assert "Annabel" not in row.data and NY not in row.data


def test_reimported_number_of_a_forgotten_customer_stays_suppressed(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    _import(app, "C1001", NY)
    _forget(app, "C1001")
    with app.engine.begin() as conn:
        stored = conn.execute(select(suppressions.c.phone_e164, suppressions.c.phone_hash)).all()
    expected = phone_hash(KEY.encode(), NY)  # computed here, not by the code under test
    assert stored and all(p is None and h == expected for p, h in stored)

    again = _import(app, "C2002", NY)  # the same number under a new id
    result = trigger(app, Kind.SHIPPING, again, shipping("B2"))
    assert result.decision is not None and result.decision.__class__.__name__ == "Suppress"
    voice = ScriptedChannel(Channel.VOICE, _answered)
    app.dispatcher({Channel.VOICE: voice}).run_once()  # type: ignore[dict-item]
    assert voice.sent == []


def test_queued_delivery_of_a_forgotten_customer_is_never_sent(make_app: AppFactory) -> None:
    app = _app(make_app)
    cid = _import(app, "C1001", NY)
    trigger(app, Kind.SHIPPING, cid, shipping())
    _forget(app, "C1001")
    voice = ScriptedChannel(Channel.VOICE, _answered)
    sms = ScriptedChannel(Channel.SMS, _answered)
    app.dispatcher({Channel.VOICE: voice, Channel.SMS: sms}).run_once()  # type: ignore[dict-item]
    assert voice.sent == [] and sms.sent == []
    with app.engine.begin() as conn:
        statuses = conn.execute(select(deliveries.c.status)).scalars().all()
        note = conn.execute(select(notifications.c.status, notifications.c.payload)).one()
    assert statuses == ["suppressed"]
    assert (note.status, note.payload) == ("suppressed", {"erased": True})


def test_forgetting_twice_changes_nothing_and_finds_the_stub_by_the_old_id(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    cid = _import(app, "C1001", NY)
    first = _forget(app, "C1001")
    second = _forget(app, "C1001")
    assert (second.customer_id, second.already, second.audit_seq) == (cid, True, first.audit_seq)
    with app.engine.begin() as conn:
        (stub,) = conn.execute(select(customers)).all()
    assert stub.erased_at == app.clock() and stub.name == "" and stub.phone_e164 is None


def test_import_without_the_key_is_refused_once_erased_numbers_exist(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    _import(app, "C1001", NY)
    _forget(app, "C1001")
    keyless = make_app()
    with pytest.raises(ConfigError, match="OUTBOUND_PRIVACY_ERASURE_KEY"):
        _import(keyless, "C2002", NY)


def test_speech_quoted_in_consent_evidence_is_erased_and_the_ledger_row_kept(
    make_app: AppFactory,
) -> None:
    app = _app(make_app)
    cid = _import(app, "C1001", NY)
    with app.engine.begin() as conn:  # evidence as releases before 2026-12 wrote it (no audit)
        insert_consent(
            conn,
            cid,
            Channel.VOICE,
            None,
            ConsentAction.REVOKE,
            source="voice",
            evidence="in-call opt-out on delivery#7 (dtmf '', said 'Annabel here, stop')",
            actor="dialer",
            now=app.clock(),
        )
    _forget(app, "C1001")
    with app.engine.begin() as conn:
        (row,) = conn.execute(select(consents.c.action, consents.c.evidence)).all()
    assert row.action == "revoke"
    assert row.evidence == "in-call opt-out on delivery#7 (dtmf '', said [erased])"
