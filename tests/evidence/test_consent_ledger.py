"""One consent ledger for every reader: the CLI's customer report and the console's customer
page show the same rows, with a phone number in the wording masked."""

from __future__ import annotations

from outbound.services.views import console
from outbound.services.views.history import customer_report
from tests.evidence.conftest import AppFactory, customer, grant


def test_customer_report_and_console_page_show_one_ledger_with_the_wording_masked(
    make_app: AppFactory,
) -> None:
    app = make_app()
    cid = customer(app, "L1", "+14155550199")
    grant(app, cid, "web form, ticked by +14155550142")
    with app.engine.begin() as conn:
        report = customer_report(conn, cid)["consents"]
        page = console.history(conn, cid)["consents"]
    assert page == report
    (row,) = report
    assert row["evidence"] == "web form, ticked by +1******0142"
    assert (row["action"], row["channel"], row["purpose"]) == ("grant", "sms", "marketing")
    assert (row["actor"], row["source"], row["written"]) == ("test", "web", False)
