"""The console over HTTP against a real ``outbound serve`` on the demo database: sign-in,
CSRF, lock-out, roles, masking, and the audit events that record who looked at whom."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from outbound.store.tables import campaigns
from tests.console.conftest import PASSWORD, Site
from tests.console.helpers import (
    client,
    csrf_of,
    events_after,
    last_seq,
    login,
    signed_in,
    why_text,
)


@pytest.mark.parametrize(
    "path",
    [
        "/console",
        "/console/customers/1",
        "/console/audit",
        "/console/campaigns",
        "/console/endpoints",
    ],
)
def test_a_page_without_a_session_redirects_to_the_login_page(site: Site, path: str) -> None:
    answer = client(site.url).get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=")


def test_a_page_with_a_made_up_session_cookie_redirects_to_the_login_page(site: Site) -> None:
    http = client(site.url)
    http.cookies.set("outbound_session", "not-a-session", path="/console")
    assert http.get("/console/audit").status_code == 303


def test_a_form_post_without_a_session_is_refused(site: Site) -> None:
    answer = client(site.url).post("/console/campaigns/1/pause", data={"csrf": "x"})
    assert answer.status_code == 403
    assert "Sign in" in answer.text


def test_login_sets_an_httponly_samesite_strict_session_cookie(site: Site) -> None:
    answer = login(client(site.url), "alice", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("outbound_session=")
    )
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie


def test_login_without_the_forms_csrf_token_is_refused_and_makes_no_session(site: Site) -> None:
    http = client(site.url)
    http.get("/console/login")  # sets the login CSRF cookie
    answer = http.post(
        "/console/login", data={"csrf": "forged", "name": "alice", "password": PASSWORD}
    )
    assert answer.status_code == 403
    assert "CSRF check failed" in answer.text
    assert "outbound_session" not in answer.headers.get("set-cookie", "")


def test_reveal_with_a_wrong_csrf_token_is_refused_and_reveals_nothing(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid, before = site.customer_id("C1001"), last_seq(site.engine)
    answer = http.post(f"/console/customers/{cid}/reveal", data={"csrf": "forged"})
    assert answer.status_code == 403
    assert site.phone("C1001") not in answer.text
    assert events_after(site.engine, before, "console.reveal") == []


def test_wrong_passwords_lock_the_account_and_then_the_right_one_is_refused(site: Site) -> None:
    site.add_user("locky-http", "compliance")
    before = last_seq(site.engine)
    http = client(site.url)
    for _ in range(5):  # [console] max_failed_logins = 5
        answer = login(http, "locky-http", "wrong-password-000")
        assert answer.status_code == 401
        assert "wrong user name or password" in answer.text
    answer = login(http, "locky-http", PASSWORD)
    assert answer.status_code == 401
    assert "account locked until" in answer.text
    failures = [
        json.loads(data) for _, _, data in events_after(site.engine, before, "console.login_failed")
    ]
    assert [f["failures"] for f in failures] == [1, 2, 3, 4, 5]
    assert [f["locked"] for f in failures] == [False] * 4 + [True]
    assert len(events_after(site.engine, before, "console.login_refused")) == 1


def test_search_by_the_last_digits_of_the_phone_finds_the_customer(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    page = http.get("/console", params={"q": site.phone("C1001")[-6:]}).text
    assert ">C1001</a>" in page
    assert site.phone("C1001") not in page


def test_a_search_for_a_whole_number_is_audited_as_a_keyed_hash_only(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    digits, before = site.phone("C1001").lstrip("+"), last_seq(site.engine)
    page = http.get("/console", params={"q": digits}).text
    assert ">C1001</a>" in page
    ((actor, subject, data),) = events_after(site.engine, before, "console.search")
    assert (actor, subject) == ("console:alice", "console")
    assert json.loads(data)["kind"] == "phone" and digits not in data


def test_customer_page_masks_the_phone_and_records_who_looked(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid, before = site.customer_id("C1001"), last_seq(site.engine)
    page = http.get(f"/console/customers/{cid}").text
    phone = site.phone("C1001")
    assert phone not in page
    assert re.search(r"\+1\*+" + phone[-4:], page)
    assert events_after(site.engine, before, "console.view") == [
        ("console:alice", f"customer#{cid}", '{"page":"history"}')
    ]


def test_customer_page_shows_the_stop_reply_and_the_consent_it_revoked(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    page = http.get(f"/console/customers/{site.customer_id('C1002')}").text
    inbound = page.split('id="inbound"')[1].split("</table>")[0]
    assert "<strong>STOP</strong>" in inbound
    ledger = page.split('id="consents"')[1].split("</table>")[0]
    assert "sms reply &#39;STOP&#39;" in ledger  # the wording, as evidence
    assert "<td>customer</td><td>sms-mo</td>" in ledger  # who, and how


def test_decision_page_shows_the_same_text_as_outbound_why(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1001")
    history = http.get(f"/console/customers/{cid}").text
    nid = re.search(r'href="/console/notifications/(\d+)"', history)
    assert nid, "no notification linked from the history"
    page = http.get(f"/console/notifications/{nid.group(1)}").text
    cli = site.cli("why", nid.group(1))
    assert cli.returncode == 0, cli.stderr
    assert why_text(page) == cli.stdout.rstrip("\n")


def test_compliance_reveal_shows_the_full_phone_and_is_an_audit_event(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid, before = site.customer_id("C1001"), last_seq(site.engine)
    page = http.get(f"/console/customers/{cid}").text
    answer = http.post(f"/console/customers/{cid}/reveal", data={"csrf": csrf_of(page)})
    assert answer.status_code == 200
    assert site.phone("C1001") in answer.text
    reveals = events_after(site.engine, before, "console.reveal")
    assert [(actor, subject) for actor, subject, _ in reveals] == [
        ("console:alice", f"customer#{cid}")
    ]


def test_reveal_is_refused_for_a_role_outside_reveal_roles(site: Site) -> None:
    http = signed_in(site.url, "bob", PASSWORD)  # operator; reveal_roles = ["compliance"]
    cid, before = site.customer_id("C1001"), last_seq(site.engine)
    page = http.get(f"/console/customers/{cid}").text
    assert 'id="reveal"' not in page
    answer = http.post(f"/console/customers/{cid}/reveal", data={"csrf": csrf_of(page)})
    assert answer.status_code == 403
    assert "may not reveal" in answer.text
    assert site.phone("C1001") not in answer.text
    assert events_after(site.engine, before, "console.reveal") == []


def test_audit_log_filters_by_actor_and_action(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    page = http.get(
        "/console/audit", params={"actor": "console:alice", "action": "console.login"}
    ).text
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>", page)
    assert rows
    assert {(actor, action) for _, actor, action in rows} == {("console:alice", "console.login")}


def test_audit_log_pages_go_back_in_time_without_overlap(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    first = http.get("/console/audit").text
    older = re.search(r'id="older" href="([^"]+)"', first)
    assert older, "the demo has more events than one page"
    second = http.get(older.group(1).replace("&amp;", "&")).text
    seqs1 = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", first)]
    seqs2 = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", second)]
    assert len(seqs1) == 50  # [console] page_size
    assert seqs2 and max(seqs2) == min(seqs1) - 1


def test_audit_log_shows_the_chain_intact(site: Site) -> None:
    page = signed_in(site.url, "alice", PASSWORD).get("/console/audit").text
    assert re.search(r'id="chain">Chain intact: \d+ events verified', page)


def test_an_unreadable_time_filter_names_the_field_and_an_example(site: Site) -> None:
    answer = signed_in(site.url, "alice", PASSWORD).get(
        "/console/audit", params={"since": "yesterday"}
    )
    assert answer.status_code == 400
    assert "since &#39;yesterday&#39; is not a time; give it like 2026-12-01T09:30" in answer.text


def _campaign_status(site: Site) -> str:
    with site.engine.connect() as conn:
        return str(conn.execute(select(campaigns.c.status).where(campaigns.c.id == 1)).scalar_one())


def test_compliance_may_not_pause_a_campaign(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    page = http.get("/console/campaigns").text
    assert "renewals-14d" in page and "Pause</button>" not in page
    answer = http.post("/console/campaigns/1/pause", data={"csrf": csrf_of(page)})
    assert answer.status_code == 403
    assert _campaign_status(site) == "active"


def test_an_operator_pauses_and_resumes_a_campaign_and_both_are_audited(site: Site) -> None:
    http = signed_in(site.url, "bob", PASSWORD)
    before = last_seq(site.engine)
    page = http.get("/console/campaigns").text
    assert http.post("/console/campaigns/1/pause", data={"csrf": csrf_of(page)}).status_code == 303
    assert _campaign_status(site) == "paused"
    page = http.get("/console/campaigns").text
    assert "Resume</button>" in page
    assert http.post("/console/campaigns/1/resume", data={"csrf": csrf_of(page)}).status_code == 303
    assert _campaign_status(site) == "active"
    assert [a for a, _, _ in events_after(site.engine, before, "campaign.paused")] == [
        "console:bob"
    ]
    assert [a for a, _, _ in events_after(site.engine, before, "campaign.active")] == [
        "console:bob"
    ]


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    token = http.cookies.get("outbound_session")
    page = http.get("/console").text
    assert http.post("/console/logout", data={"csrf": csrf_of(page)}).status_code == 303
    replay = client(site.url)
    replay.cookies.set("outbound_session", str(token), path="/console")
    assert replay.get("/console").status_code == 303


def test_disabling_an_account_ends_its_open_session(site: Site) -> None:
    site.add_user("dora", "compliance")
    http = signed_in(site.url, "dora", PASSWORD)
    assert http.get("/console").status_code == 200
    done = site.cli("user", "disable", "dora")
    assert done.returncode == 0 and "1 open session(s) ended" in done.stdout
    assert http.get("/console").status_code == 303
    assert login(client(site.url), "dora", PASSWORD).status_code == 401


def test_audit_log_filters_by_subject_and_time_range(site: Site) -> None:
    http = signed_in(site.url, "alice", PASSWORD)
    cid = site.customer_id("C1002")
    page = http.get("/console/audit", params={"subject": f"customer#{cid}"}).text
    subjects = set(
        re.findall(r'<td><a href="/console/audit\?subject=[^"]*">([^<]*)</a></td>', page)
    )
    assert subjects == {f"customer#{cid}"}
    future = http.get("/console/audit", params={"since": "2999-01-01T00:00"}).text
    assert "No events match these filters." in future
    past = http.get("/console/audit", params={"until": "2000-01-01T00:00"}).text
    assert "No events match these filters." in past


def test_the_webhooks_page_lists_each_endpoint_with_status_and_queue_depth(site: Site) -> None:
    page = signed_in(site.url, "alice", PASSWORD).get("/console/endpoints").text
    row = page.split('id="endpoint-demo-desk"', 1)[1].split("</tr>", 1)[0]
    assert "/status</td>" in row  # the demo's loopback receiver, stopped with the demo
    assert "disabled (disabled by demo)" in row
    assert "whsec_" not in page
