"""Exports, the campaign report, the chain's checkpoint status and erasure on a real ``outbound
serve`` over HTTP; every figure is checked against the database (or against what the CLI
writes for the same selection)."""

from __future__ import annotations

import csv
import io
import json
import re

from sqlalchemy import func, select

from outbound.store.tables import audit_events, consents, customers, deliveries, notifications
from tests.console.conftest import CHECKPOINT, PASSWORD, Site
from tests.console.helpers import (
    audit_rows,
    client,
    csrf_of,
    events_after,
    last_seq,
    login,
    signed_in,
    unzipped,
)


def _subjects(site: Site, external_id: str) -> list[str]:
    """What ``audit export --customer`` covers, read from the tables."""
    cid = site.customer_id(external_id)
    with site.engine.connect() as conn:
        notes = list(
            conn.execute(
                select(notifications.c.id).where(notifications.c.customer_id == cid)
            ).scalars()
        )
        sent = list(
            conn.execute(
                select(deliveries.c.id).where(deliveries.c.notification_id.in_(notes))
            ).scalars()
        )
    return [
        f"customer#{cid}",
        f"customer:{external_id}",
        *[f"notification#{n}" for n in notes],
        *[f"delivery#{d}" for d in sent],
    ]


def test_a_customer_export_is_the_cli_export_with_its_manifest_and_is_audited(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1002")
    out = site.directory / "cli-C1002.csv"
    checkpoint = str(site.directory / CHECKPOINT)
    done = site.cli(
        "audit", "export", "--customer", "C1002", "--format", "csv", "--out", str(out),
        "--checkpoint", checkpoint,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = last_seq(site.engine)
    answer = http.get(f"/console/customers/{cid}/export.csv")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert re.fullmatch(
        r'attachment; filename="evidence-C1002-csv-\d{8}T\d{6}Z\.zip"',
        answer.headers["content-disposition"],
    )
    files = unzipped(answer.content)
    assert sorted(files) == ["evidence-C1002.csv", "evidence-C1002.csv.manifest.json"]
    text = files["evidence-C1002.csv"]
    # byte for byte what the CLI wrote, and then the CLI export's own audit event
    cli_text = out.read_bytes().decode("utf-8")
    assert text.startswith(cli_text) and text.count("\r\n") == cli_text.count("\r\n") + 1
    assert ",cli,audit.export,customer:C1002," in text[len(cli_text) :]
    manifest = json.loads(files["evidence-C1002.csv.manifest.json"])
    cli_manifest = json.loads((site.directory / "cli-C1002.csv.manifest.json").read_text())
    for same in ("checkpoint", "selection"):
        assert manifest[same] == cli_manifest[same], same
    assert manifest["rows"] == cli_manifest["rows"] + 1
    assert manifest["chain"]["head_seq"] == cli_manifest["chain"]["head_seq"] + 1
    rows = list(csv.DictReader(io.StringIO(text)))
    exported = [(int(r["id"]), r["action"], r["hash"]) for r in rows if r["record"] == "audit"]
    assert exported == audit_rows(site.engine, _subjects(site, "C1002"), before)
    with site.engine.connect() as conn:
        ledger = conn.execute(
            select(func.count()).select_from(consents).where(consents.c.customer_id == cid)
        ).scalar_one()
        head = conn.execute(select(func.max(audit_events.c.seq))).scalar_one()
    assert sum(r["record"] == "consent" for r in rows) == ledger > 0
    assert manifest["rows"] == len(rows) and manifest["chain"]["head_seq"] == before == head - 1
    assert manifest["checkpoint"]["matches_chain"] is True
    assert site.phone("C1002") not in text
    ((actor, subject, data),) = events_after(site.engine, before, "console.export")
    recorded = json.loads(data)
    assert (actor, subject) == ("console:alice", f"customer#{cid}")
    assert recorded["sha256"] == manifest["sha256"] and recorded["rows"] == len(rows)
    assert recorded["format"] == "csv" and recorded["selection"] == {"customer": "C1002"}


def test_a_time_range_export_holds_every_audit_event_of_the_range(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    window = {"since": "2000-01-01T00:00", "until": "2999-01-01T00:00"}
    before = last_seq(site.engine)
    answer = http.get("/console/audit/export.jsonl", params=window)
    assert answer.status_code == 200
    files = unzipped(answer.content)
    lines = [json.loads(x) for x in files["evidence-audit.jsonl"].splitlines()]
    with site.engine.connect() as conn:
        stored = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash)
            .where(audit_events.c.seq <= before)
            .order_by(audit_events.c.seq)
        ).all()
    assert [(x["id"], x["hash"]) for x in lines] == [(int(s), str(h)) for s, h in stored]
    manifest = json.loads(files["evidence-audit.jsonl.manifest.json"])
    assert manifest["audit_seq_range"] == [1, before] and manifest["chain"]["verified"] is True
    assert events_after(site.engine, before, "console.export")[0][1] == "audit"


def test_a_time_range_export_without_an_end_names_both_fields(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    answer = http.get("/console/audit/export.csv", params={"since": "2026-01-01T00:00"})
    assert answer.status_code == 400
    assert "needs both From and Until" in answer.text and "Traceback" not in answer.text


def test_the_campaign_page_shows_the_funnel_of_the_database_and_the_chart(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    page = http.get("/console/campaigns/1")
    assert page.status_code == 200
    with site.engine.connect() as conn:
        queued = dict(
            conn.execute(
                select(deliveries.c.channel, func.count(func.distinct(notifications.c.id)))
                .select_from(deliveries.join(notifications))
                .where(notifications.c.campaign_id == 1)
                .group_by(deliveries.c.channel)
            ).all()
        )
    assert queued, "the demo's campaign queued nothing"
    for channel, count in queued.items():
        name = channel or "undecided"  # as the report names a delivery with no channel yet
        row = re.search(rf'<tr><td>{name}</td><td class="num">(\d+)</td>', page.text)
        assert row and int(row.group(1)) == count, name
    chart = re.search(r'<figure class="chart" id="chart">(.*?)</figure>', page.text, re.S)
    assert chart and chart.group(1).startswith("<svg") and chart.group(1).count("<svg") == 3
    assert "renewals-14d: funnel per channel" in chart.group(1)
    assert "<script" not in page.text.lower()
    assert "script-src 'none'" in page.headers["content-security-policy"]


def test_the_audit_page_names_the_last_checkpoint_and_that_the_chain_verifies_against_it(
    site: Site,
) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    written = json.loads((site.directory / CHECKPOINT).read_text(encoding="utf-8"))
    page = http.get("/console/audit").text
    status = re.search(r'<p class="ok" id="checkpoint">(.*?)</p>', page, re.S)
    assert status, "no checkpoint status on the page"
    assert f"Last checkpoint: seq {written['seq']}, hash" in status.group(1)
    assert written["hash"][:16] in status.group(1)
    assert "The chain verifies against it." in status.group(1)
    assert re.search(r'id="chain">Chain intact: \d+ events verified \(\d+ MACs checked', page)


def test_erasure_is_refused_to_a_role_outside_erase_roles(site: Site) -> None:
    http = signed_in(site.url, "bob", PASSWORD)
    cid = site.customer_id("C1009")
    page = http.get(f"/console/customers/{cid}")
    assert 'id="forget"' not in page.text
    assert http.get(f"/console/customers/{cid}/forget").status_code == 403
    refused = http.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": csrf_of(page.text), "reason": "test", "confirm": "C1009"},
    )
    assert refused.status_code == 403 and "[console] erase_roles: compliance" in refused.text
    assert site.phone("C1009")  # nothing erased


def test_erasure_needs_a_reason_and_the_external_id_typed_again(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1009")
    form = http.get(f"/console/customers/{cid}/forget")
    assert form.status_code == 200 and 'id="erase"' in form.text
    csrf = csrf_of(form.text)
    no_reason = http.post(
        f"/console/customers/{cid}/forget", data={"csrf": csrf, "reason": " ", "confirm": "C1009"}
    )
    assert no_reason.status_code == 400 and "Reason is required" in no_reason.text
    wrong = http.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": csrf, "reason": "ticket 1", "confirm": "C100"},
    )
    assert wrong.status_code == 400 and "nothing was erased" in wrong.text
    forged = http.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": "forged", "reason": "ticket 1", "confirm": "C1009"},
    )
    assert forged.status_code == 403
    assert site.phone("C1009")  # still there after all three


def test_erasure_from_the_console_is_audited_and_the_export_is_the_erasure_record_only(
    site: Site,
) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1010")
    csrf = csrf_of(http.get(f"/console/customers/{cid}/forget").text)
    before = last_seq(site.engine)
    done = http.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": csrf, "reason": "GDPR Art. 17 request, ticket 4711", "confirm": "C1010"},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/console/customers/{cid}"
    with site.engine.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == cid)).one()
    assert row.erased_at is not None and row.phone_e164 is None and row.name == ""
    ((actor, subject, data),) = events_after(site.engine, before, "customer.erased")
    assert (actor, subject) == ("console:alice", f"customer#{cid}")
    assert json.loads(data)["reason"] == "GDPR Art. 17 request, ticket 4711"
    assert 'id="forgotten"' in http.get(f"/console/customers/{cid}").text
    files = unzipped(http.get(f"/console/customers/{cid}/export.jsonl").content)
    (name,) = [n for n in files if n.endswith(".jsonl")]
    lines = [json.loads(x) for x in files[name].splitlines()]
    with site.engine.connect() as conn:
        erased = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash).where(
                audit_events.c.action == "customer.erased", audit_events.c.subject == subject
            )
        ).one()
    assert [(x["record"], x["action"], x["id"], x["hash"]) for x in lines] == [
        ("audit", "customer.erased", erased.seq, erased.hash)
    ]


def test_user_unlock_ends_a_lock_out(site: Site) -> None:
    site.add_user("lena", "compliance")
    http = signed_in(site.url, "lena", PASSWORD)  # a session to prove unlock leaves it alone
    for _ in range(5):  # [console] max_failed_logins
        assert login_status(site, "lena", "wrong-password-here") == 401
    assert login_status(site, "lena", PASSWORD) == 401  # locked
    listed = json.loads(site.cli("user", "list", "--json").stdout)
    assert {"name": "lena", "status": "locked"}.items() <= next(
        u for u in listed if u["name"] == "lena"
    ).items()
    done = site.cli("user", "unlock", "lena")
    assert done.returncode == 0 and "unlocked (the lock ran until" in done.stdout
    assert login_status(site, "lena", PASSWORD) == 303
    assert http.get("/console").status_code == 200
    again = site.cli("user", "unlock", "lena")
    assert again.returncode == 0 and "was not locked" in again.stdout
    unknown = site.cli("user", "unlock", "nobody")
    assert unknown.returncode != 0 and "not found" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_user_passwd_sets_a_new_password_and_ends_the_open_sessions(site: Site) -> None:
    site.add_user("mira", "compliance")
    http = signed_in(site.url, "mira", PASSWORD)
    new = "a-brand-new-password-2"
    short = site.cli("user", "passwd", "mira", "--password-stdin", stdin="tiny-pw1\n")
    assert short.returncode != 0 and "too short" in short.stderr
    assert "tiny-pw1" not in short.stderr + short.stdout
    done = site.cli("user", "passwd", "mira", "--password-stdin", stdin=new + "\n")
    assert done.returncode == 0 and "1 open session(s) ended" in done.stdout
    assert http.get("/console").status_code == 303  # the old session is gone
    assert login_status(site, "mira", PASSWORD) == 401
    assert login_status(site, "mira", new) == 303
    with site.engine.connect() as conn:
        changed = conn.execute(
            select(audit_events.c.actor).where(audit_events.c.action == "console.password_changed")
        ).all()
    assert ("cli",) in [tuple(r) for r in changed]


def login_status(site: Site, name: str, password: str) -> int:
    return login(client(site.url), name, password).status_code
