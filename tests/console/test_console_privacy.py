"""Personal data on a real ``outbound serve`` over HTTP: what a customer wrote is shown from a
table erasure clears (never from the chain), searches are audited as a kind and a keyed hash,
consent evidence is masked, and no page with personal data may be cached."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from outbound import bootstrap
from outbound.config import load_settings
from outbound.services.people.inbound import Program, handle_mo
from outbound.store.tables import audit_events, consents, inbound_texts
from tests.console.conftest import AUDIT_KEY, CONFIG_DIR, PASSWORD, Site, keys
from tests.console.helpers import csrf_of, events_after, last_seq, signed_in, unzipped

FREE_TEXT = "Hi this is Jane Q Doe, 12 Elm Street, please stop the calls"


def _inbound(site: Site, phone: str, text: str) -> None:
    """One inbound SMS through the service the SMPP adapter calls for every MO."""
    environ = keys(site.directory)
    settings = load_settings(CONFIG_DIR, {"database": {"url": site.db_url}}, environ=environ)
    app = bootstrap.build(settings)
    try:
        with app.engine.begin() as conn:
            handle_mo(
                conn,
                phone,
                text,
                now=datetime.now(UTC),
                rules=app.rules,
                messaging=app.messaging(),
                program=Program(),
            )
    finally:
        app.close()


def _chain_text(site: Site) -> str:
    with site.engine.connect() as conn:
        return "\n".join(conn.execute(select(audit_events.c.data)).scalars())


def _inbound_table(page: str) -> str:
    return page.split('id="inbound"')[1].split("</table>")[0]


def test_inbound_free_text_stays_out_of_the_chain_and_is_gone_from_the_console_after_forget(
    site: Site,
) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid, phone = site.customer_id("C1020"), site.phone("C1020")
    before = last_seq(site.engine)
    _inbound(site, phone, FREE_TEXT)
    ((_, subject, data),) = events_after(site.engine, before, "inbound.message")
    stored = json.loads(data)
    assert subject == f"customer#{cid}"
    assert (stored["keyword"], stored["length"]) == ("other", 59)
    assert len(stored["text_hash"]) == 64 and "text" not in stored
    assert "Elm Street" not in _chain_text(site)
    shown = _inbound_table(http.get(f"/console/customers/{cid}").text)
    assert "Jane Q Doe, 12 Elm Street" in shown  # an operator still reads it, until erasure

    form = http.get(f"/console/customers/{cid}/forget")
    done = http.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": csrf_of(form.text), "reason": "GDPR ticket 77", "confirm": "C1020"},
    )
    assert done.status_code == 303
    page = http.get(f"/console/customers/{cid}").text
    assert "Elm Street" not in page and "Jane Q Doe" not in page
    assert "Elm Street" not in _chain_text(site)
    with site.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(inbound_texts)).scalar_one()
        texts = list(conn.execute(select(inbound_texts.c.text)).scalars())
    assert left == len(texts) and not any("Elm Street" in t for t in texts)


def test_a_number_in_consent_evidence_is_masked_when_written_and_on_the_console(
    site: Site,
) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1022")
    done = site.cli(
        "consent", "grant", "--customer", "C1022", "--channel", "voice",
        "--purpose", "marketing", "--evidence", "called from +14155550123 on 2026-11-02",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with site.engine.connect() as conn:
        stored = list(
            conn.execute(select(consents.c.evidence).where(consents.c.customer_id == cid)).scalars()
        )
    assert "called from +1******0123 on 2026-11-02" in stored
    page = http.get(f"/console/customers/{cid}").text
    assert "+14155550123" not in page and "called from +1******0123 on 2026-11-02" in page
    assert "14155550123" not in _chain_text(site)


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("2015553518x", "id"),
        ("+1/201/555/3518", "phone"),
        ("Jane Q Doe", "name"),
        ("jane.doe@example.com", "name"),
        ("C1001", "id"),
    ],
)
def test_a_search_is_audited_as_its_kind_and_a_keyed_hash_never_the_query(
    site: Site, query: str, kind: str
) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    before = last_seq(site.engine)
    assert http.get("/console", params={"q": query}).status_code == 200
    ((actor, subject, data),) = events_after(site.engine, before, "console.search")
    expected = hmac.new(
        AUDIT_KEY.encode(), f"console.search|{query}".encode(), hashlib.sha256
    ).hexdigest()
    assert (actor, subject) == ("console:alice", "console")
    assert json.loads(data) == {"kind": kind, "query_hash": expected}
    assert query not in data and "3518" not in data and "Doe" not in data


@pytest.mark.parametrize(
    "path",
    [
        "/console",
        "/console?q=C1001",
        "/console/audit",
        "/console/audit/export.jsonl?since=2000-01-01T00:00&until=2999-01-01T00:00",
    ],
)
def test_pages_with_personal_data_are_never_cached(site: Site, path: str) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    answer = http.get(path)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"


def test_the_customer_page_its_reveal_and_its_evidence_zip_are_never_cached(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1001")
    page = http.get(f"/console/customers/{cid}")
    reveal = http.post(f"/console/customers/{cid}/reveal", data={"csrf": csrf_of(page.text)})
    export = http.get(f"/console/customers/{cid}/export.jsonl")
    login = http.get("/console/login")
    assert [r.status_code for r in (page, reveal, export, login)] == [200] * 4
    assert [r.headers["cache-control"] for r in (page, reveal, export, login)] == ["no-store"] * 4


def test_a_console_evidence_zip_verifies_alone_with_verify_export(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    answer = http.get(f"/console/customers/{site.customer_id('C1002')}/export.jsonl")
    assert answer.status_code == 200
    bundle = site.directory / "unzipped-C1002"
    bundle.mkdir()
    for name, text in unzipped(answer.content).items():
        (bundle / name).write_text(text, encoding="utf-8", newline="")
    checked = site.cli("audit", "verify-export", str(bundle), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (found,) = json.loads(checked.stdout)["files"]
    assert found["file"] == "evidence-C1002.jsonl" and found["signed_by"] == [
        "audit key (HMAC-SHA256)"
    ]
