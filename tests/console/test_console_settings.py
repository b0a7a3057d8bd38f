"""The console's ``[console]`` settings, in-process (FastAPI's test client on a real database of
each engine): Secure cookies, who may reveal, session length, and no redirect off the console."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from outbound import bootstrap
from outbound.api.app import create_app
from outbound.mains.serve import api_deps
from outbound.services.people import accounts
from outbound.store.customers import customer_id_for
from outbound.store.tables import customers
from tests.console.helpers import csrf_of

PASSWORD = "settings-test-password"
PHONE = "+4915112345678"

Factory = Callable[..., bootstrap.App]


def _seed(app: bootstrap.App) -> int:
    with app.engine.begin() as conn:
        for name, role in (("alice", "compliance"), ("bob", "operator")):
            accounts.add_user(conn, name, role, PASSWORD, now=app.clock(), actor="test")
        conn.execute(
            customers.insert().values(
                external_id="C9",
                name="Nine",
                locale="de-DE",
                timezone="Europe/Berlin",
                phone_e164=PHONE,
                country="DE",
                attributes={},
                created_at=app.clock(),
            )
        )
        return customer_id_for(conn, "C9")


@pytest.fixture
def console(make_app: Factory) -> Iterator[Callable[..., tuple[TestClient, int]]]:
    clients: list[TestClient] = []

    def start(**settings: object) -> tuple[TestClient, int]:
        app = make_app(console=settings) if settings else make_app()
        cid = _seed(app)
        client = TestClient(
            create_app(api_deps(app)), base_url="https://127.0.0.1", follow_redirects=False
        )
        clients.append(client)
        return client, cid

    yield start
    for client in clients:
        client.close()


def _login(client: TestClient, name: str, next_url: str = "/console") -> object:
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": PASSWORD, "next": next_url},
    )


def test_secure_cookie_setting_marks_the_session_cookie_secure(
    console: Callable[..., tuple[TestClient, int]],
) -> None:
    client, _ = console(secure_cookie=True, session_minutes=30)
    answer = _login(client, "alice")
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("outbound_session=")
    )
    assert "Secure" in cookie
    assert "Max-Age=1800" in cookie


def test_without_secure_cookie_the_session_cookie_is_not_marked_secure(
    console: Callable[..., tuple[TestClient, int]],
) -> None:
    client, _ = console()
    answer = _login(client, "alice")
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("outbound_session=")
    )
    assert "Secure" not in cookie


def test_reveal_roles_decide_who_may_reveal(console: Callable[..., tuple[TestClient, int]]) -> None:
    client, cid = console(reveal_roles=["operator"])
    _login(client, "alice")
    page = client.get(f"/console/customers/{cid}").text
    assert (
        client.post(f"/console/customers/{cid}/reveal", data={"csrf": csrf_of(page)}).status_code
        == 403
    )
    client.cookies.clear()
    _login(client, "bob")
    page = client.get(f"/console/customers/{cid}").text
    answer = client.post(f"/console/customers/{cid}/reveal", data={"csrf": csrf_of(page)})
    assert answer.status_code == 200
    assert PHONE in answer.text


def test_login_never_redirects_off_the_console(
    console: Callable[..., tuple[TestClient, int]],
) -> None:
    client, _ = console()
    answer = _login(client, "alice", next_url="https://evil.example/console")
    assert answer.headers["location"] == "/console"


def test_a_console_form_that_is_not_form_encoded_is_refused(
    console: Callable[..., tuple[TestClient, int]],
) -> None:
    client, cid = console()
    _login(client, "alice")
    answer = client.post(f"/console/customers/{cid}/reveal", json={"csrf": "x"})
    assert answer.status_code == 415


def test_an_unknown_customer_is_a_404_page_naming_the_id(
    console: Callable[..., tuple[TestClient, int]],
) -> None:
    client, _ = console()
    _login(client, "alice")
    answer = client.get("/console/customers/987654")
    assert answer.status_code == 404
    assert "customer #987654 not found" in answer.text
