"""Console pages in-process (FastAPI's test client, a real database of each engine): the report
page cannot be made to run script by a campaign's name, erasure follows ``[console]
erase_roles`` and needs the erasure key, and the audit page reports a tampered chain against
its checkpoint."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from outbound import bootstrap
from outbound.api.app import create_app
from outbound.domain.values import Kind
from outbound.mains.serve import api_deps
from outbound.services.campaigns import runs as campaigns
from outbound.services.people import accounts
from outbound.store.tables import audit_events, customers
from tests.console.helpers import csrf_of
from tests.integration.helpers import NY, add_customer, truncate_chain

PASSWORD = "pages-test-password"
AUDIT_KEY = "p" * 16 + "0123456789abcdef"
ERASURE_KEY = "pages-erasure-key-0123456789"
EVIL = '</title><script>alert(1)</script><svg onload="alert(2)"><a href="javascript:alert(3)">x'

Console = Callable[..., tuple[TestClient, bootstrap.App]]


@pytest.fixture
def console(make_app: Callable[..., bootstrap.App]) -> Iterator[Console]:
    clients: list[TestClient] = []

    def start(**overrides: Any) -> tuple[TestClient, bootstrap.App]:
        app = make_app(**overrides)
        with app.engine.begin() as conn:
            for name, role in (("alice", "compliance"), ("bob", "operator")):
                accounts.add_user(conn, name, role, PASSWORD, now=app.clock(), actor="test")
        client = TestClient(
            create_app(api_deps(app)), base_url="http://127.0.0.1", follow_redirects=False
        )
        clients.append(client)
        return client, app

    yield start
    for client in clients:
        client.close()


def _login(client: TestClient, name: str) -> None:
    form = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": PASSWORD, "next": "/console"},
    )
    assert answer.status_code == 303


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def _elements(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser.found


def _campaign(app: bootstrap.App, name: str) -> int:
    spec = campaigns.CampaignSpec(
        name,
        Kind.RENEWAL,
        "0 10 * * *",
        "America/New_York",
        {"expires_within_days": 7},
        {"renew_url": "https://shop.example/renew?c={external_id}"},
    )
    with app.engine.begin() as conn:
        return campaigns.create(conn, spec, now=app.clock(), actor="test")


def test_a_campaign_name_with_markup_reaches_the_report_page_only_as_text(
    console: Console,
) -> None:
    client, app = console()
    cid = _campaign(app, EVIL)
    _login(client, "alice")
    answer = client.get(f"/console/campaigns/{cid}")
    assert answer.status_code == 200
    body = answer.text
    elements = _elements(body)  # as a browser's HTML parser sees the page
    assert "script" not in {tag for tag, _ in elements}
    handlers = [
        (tag, name) for tag, attrs in elements for name, _ in attrs if name.startswith("on")
    ]
    assert handlers == []
    links = [value for _, attrs in elements for name, value in attrs if name.endswith("href")]
    assert links and not [v for v in links if (v or "").strip().lower().startswith("javascript")]
    figure = re.search(r'<figure class="chart" id="chart">(.*?)</figure>', body, re.S)
    assert figure and "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in figure.group(1)
    policy = answer.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_a_campaign_that_sent_nothing_yet_shows_empty_charts_and_tables(console: Console) -> None:
    client, app = console()
    cid = _campaign(app, "quiet")
    _login(client, "alice")
    body = client.get(f"/console/campaigns/{cid}").text
    figure = re.search(r'<figure class="chart" id="chart">(.*?)</figure>', body, re.S)
    assert figure and figure.group(1).count("No data") == 2  # both charts, drawn empty
    assert "No deliveries yet." in body and "Nothing is waiting." in body
    assert "Nothing sent yet." in body


def test_a_report_of_an_unknown_campaign_is_a_404_page(console: Console) -> None:
    client, _ = console()
    _login(client, "alice")
    answer = client.get("/console/campaigns/4242")
    assert answer.status_code == 404 and "4242" in answer.text


def test_by_default_no_role_may_erase_and_the_page_names_the_setting(console: Console) -> None:
    client, app = console(privacy={"erasure_key": ERASURE_KEY})
    cid = add_customer(app, "C1", NY)
    for name in ("alice", "bob"):
        client.cookies.clear()
        _login(client, name)
        page = client.get(f"/console/customers/{cid}").text
        assert 'id="forget"' not in page
        answer = client.get(f"/console/customers/{cid}/forget")
        assert answer.status_code == 403
        assert "erase_roles: none (the default)" in answer.text


def test_erasure_without_an_erasure_key_is_refused_with_the_setting_to_give(
    console: Console,
) -> None:
    client, app = console(console={"erase_roles": ["operator"]})
    cid = add_customer(app, "C1", NY)
    _login(client, "bob")
    page = client.get(f"/console/customers/{cid}").text
    answer = client.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": csrf_of(page), "reason": "ticket 9", "confirm": "C1"},
    )
    assert answer.status_code == 409 and "OUTBOUND_PRIVACY_ERASURE_KEY" in answer.text
    with app.engine.connect() as conn:
        erased = conn.execute(select(customers.c.erased_at).where(customers.c.id == cid))
        assert erased.scalar_one() is None


def test_erasure_by_an_allowed_role_through_both_steps(console: Console) -> None:
    client, app = console(
        console={"erase_roles": ["operator"]}, privacy={"erasure_key": ERASURE_KEY}
    )
    cid = add_customer(app, "C1", NY)
    _login(client, "bob")
    form = client.get(f"/console/customers/{cid}/forget")
    assert form.status_code == 200 and "cannot be undone" in form.text
    done = client.post(
        f"/console/customers/{cid}/forget",
        data={"csrf": csrf_of(form.text), "reason": "ticket 9", "confirm": "C1"},
    )
    assert done.status_code == 303
    again = client.get(f"/console/customers/{cid}/forget")
    assert 'id="already"' in again.text and 'id="erase"' not in again.text


def test_the_audit_page_reports_a_deleted_tail_against_the_checkpoint(
    console: Console, tmp_path: Path
) -> None:
    target = tmp_path / "audit-checkpoint.json"
    client, app = console(audit={"key": AUDIT_KEY, "checkpoint_to": str(target)})
    add_customer(app, "C1", NY)
    add_customer(app, "C2", NY)
    _login(client, "alice")
    checkpoint = app.checkpoints().write(str(target))
    page = client.get("/console/audit").text
    assert "The chain verifies against it." in page
    assert f"Last checkpoint: seq {checkpoint.seq}," in page
    with app.engine.begin() as conn:
        truncate_chain(conn, 3)
    broken = client.get("/console/audit").text
    assert re.search(r'id="chain">Chain BROKEN at seq \d+: chain ends at seq \d+ but the ', broken)
    assert "events deleted from the tail" in broken
    assert "The chain does NOT verify against it." in broken


def test_verify_the_whole_chain_now_finds_an_in_place_edit_a_page_load_does_not_reread(
    console: Console,
) -> None:
    client, app = console(audit={"key": AUDIT_KEY})
    add_customer(app, "C1", NY)
    _login(client, "alice")
    page = client.get("/console/audit").text
    assert 'id="chain">Chain intact' in page
    with app.engine.begin() as conn:  # the stored hash left alone: only a re-read finds it
        conn.execute(update(audit_events).where(audit_events.c.seq == 1).values(actor="mallory"))
    cached = client.get("/console/audit").text
    assert 'id="chain">Chain intact' in cached and "(cached)" in cached
    assert client.post("/console/audit/verify", data={"csrf": "forged"}).status_code == 403
    answer = client.post("/console/audit/verify", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/audit"
    after = client.get("/console/audit").text
    assert 'id="chain">Chain BROKEN at seq 1: row content does not match its hash' in after


def test_the_front_page_shows_the_queue_and_the_audit_head_of_outbound_status(
    console: Console,
) -> None:
    from tests.integration.helpers import SHANGHAI, shipping, trigger

    client, app = console()
    ny = add_customer(app, "C7", NY, preference="sms", timezone="America/New_York")
    sh = add_customer(app, "C8", SHANGHAI, preference="sms", timezone="Asia/Shanghai")
    trigger(app, Kind.SHIPPING, ny, shipping("F1"))  # due now
    trigger(app, Kind.SHIPPING, sh, shipping("F2"))  # 23:00 in Shanghai: deferred
    _login(client, "alice")
    body = client.get("/console").text
    assert "Operations now" in body
    queue = re.search(r'<table id="queue">(.*?)</table>', body, re.S)
    assert queue is not None
    cells = re.findall(r"<td>([^<]*)</td>", queue.group(1))
    assert cells[:3] == ["sms", "1", "1"]  # channel, due now, deferred
    assert "none written" in body  # no [audit] checkpoint_to in this site
