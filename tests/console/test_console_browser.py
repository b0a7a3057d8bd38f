"""The console in a real browser: headless Chromium (Debian ``chromium`` + ``chromium-driver``)
driven by Selenium against ``outbound serve`` on the demo database.

Screenshots of every page go to ``$CONSOLE_SHOTS`` (default: the test's temporary directory).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from outbound.store.tables import (
    audit_events,
    campaigns,
    consents,
    customers,
    deliveries,
    notifications,
)
from tests.conftest import require_tool
from tests.console.conftest import CHECKPOINT, PASSWORD, Site
from tests.console.helpers import audit_rows, events_after, last_seq, unzipped

WAIT = 60.0  # seconds for a page on a busy machine
WIDTH = 1360


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = Path(os.environ.get("CONSOLE_SHOTS") or tmp_path_factory.mktemp("shots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = require_tool("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WIDTH},900")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(require_tool("chromedriver")))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def fresh(browser: WebDriver, site: Site) -> WebDriver:
    """The browser with no console cookies (signed out)."""
    browser.get(f"{site.url}/healthz")
    browser.delete_all_cookies()
    return browser


def _shot(driver: WebDriver, folder: Path, name: str) -> None:
    """A PNG of the whole page: the window is made as tall as the page first."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(WIDTH, min(max(height + 120, 600), 6000))
    driver.save_screenshot(str(folder / f"{name}.png"))
    driver.set_window_size(WIDTH, 900)


def _wait_for(driver: WebDriver, css: str) -> None:
    WebDriverWait(driver, WAIT).until(ready.presence_of_element_located((By.CSS_SELECTOR, css)))


def _press(driver: WebDriver, by: str, value: str) -> WebElement:
    """Click the element once it is clickable. Chromium sometimes answers a click on a node
    found an instant before with "does not belong to the document" (the page's document was
    still being swapped): the element is looked up again and clicked, until the deadline."""
    deadline = time.monotonic() + WAIT
    while True:
        element = WebDriverWait(driver, WAIT).until(ready.element_to_be_clickable((by, value)))
        try:
            element.click()
            return element
        except (StaleElementReferenceException, WebDriverException) as exc:
            transient = isinstance(exc, StaleElementReferenceException) or (
                "does not belong to the document" in str(exc)
            )
            if not transient or time.monotonic() > deadline:
                raise
        time.sleep(0.1)  # polling interval, bounded by the deadline


def _gone(clicked: WebElement) -> Callable[[WebDriver], bool]:
    """``staleness_of``, also when chromedriver reports the node of the replaced page as "does
    not belong to the document" (a WebDriverException) instead of a stale reference."""

    def check(_driver: WebDriver) -> bool:
        try:
            clicked.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False

    return check


def _next_page(driver: WebDriver, clicked: WebElement) -> None:
    """Wait until the page that held ``clicked`` has been replaced by the answer."""
    WebDriverWait(driver, WAIT).until(_gone(clicked))
    _wait_for(driver, "main h1")


def _sign_in(driver: WebDriver, site: Site, name: str, password: str) -> None:
    driver.get(f"{site.url}/console/login")
    _wait_for(driver, "#name")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    button = _press(driver, By.ID, "sign-in")
    _next_page(driver, button)


def test_without_a_session_the_browser_is_sent_to_the_login_page(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    fresh.get(f"{site.url}/console/audit")
    _wait_for(fresh, "#sign-in")
    assert "/console/login?next=/console/audit" in fresh.current_url
    assert fresh.find_element(By.CSS_SELECTOR, "main h1").text == "Sign in"
    assert "Chain intact" not in fresh.page_source
    _shot(fresh, shots, "01-login")


def test_signs_in_finds_a_customer_and_reads_the_history_and_the_decision(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    box = fresh.find_element(By.ID, "q")
    box.send_keys("C1002")
    _press(fresh, By.ID, "find")
    _wait_for(fresh, "table a[href^='/console/customers/']")
    _shot(fresh, shots, "02-search")
    _press(fresh, By.LINK_TEXT, "C1002")
    _wait_for(fresh, "#consents")
    assert fresh.find_element(By.CSS_SELECTOR, "main h1").text.startswith("Customer C1002")
    assert site.phone("C1002") not in fresh.page_source
    inbound = fresh.find_element(By.ID, "inbound").text
    assert "STOP" in inbound
    _shot(fresh, shots, "03-customer-history")
    _press(fresh, By.PARTIAL_LINK_TEXT, "why?")
    _wait_for(fresh, "#why")
    why = fresh.find_element(By.ID, "why").text
    assert why.startswith("notification ") and "decision 1 (rung 0" in why
    _shot(fresh, shots, "04-decision")


def _downloaded(folder: Path, pattern: str) -> Path:
    """The finished download matching ``pattern`` (Chrome writes ``.crdownload`` first)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done = sorted(folder.glob(pattern))
        if done and not list(folder.glob("*.crdownload")):
            return done[-1]
        time.sleep(0.2)  # polling interval, bounded by the deadline
    raise AssertionError(f"no download matching {pattern} in {WAIT:.0f} s")


def test_exports_a_customers_evidence_as_the_cli_files_checked_against_the_database(
    fresh: WebDriver, site: Site, downloads: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    cid = site.customer_id("C1002")
    fresh.get(f"{site.url}/console/customers/{cid}")
    _wait_for(fresh, "#export-csv")
    _press(fresh, By.ID, "export-csv")
    files = unzipped(_downloaded(downloads, "evidence-C1002-csv-*.zip").read_bytes())
    text = files["evidence-C1002.csv"]
    manifest = json.loads(files["evidence-C1002.csv.manifest.json"])
    assert manifest["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    rows = list(csv.DictReader(io.StringIO(text)))
    exported = [(int(r["id"]), r["action"], r["hash"]) for r in rows if r["record"] == "audit"]
    subjects = [f"customer#{cid}", "customer:C1002", *_notes_and_deliveries(site, cid)]
    assert exported == audit_rows(site.engine, subjects, manifest["chain"]["head_seq"])
    with site.engine.connect() as conn:
        ledger = conn.execute(
            select(func.count()).select_from(consents).where(consents.c.customer_id == cid)
        ).scalar_one()
    assert sum(r["record"] == "consent" for r in rows) == ledger > 0
    assert manifest["rows"] == len(rows) and site.phone("C1002") not in text


def _notes_and_deliveries(site: Site, cid: int) -> list[str]:
    with site.engine.connect() as conn:
        notes = list(
            conn.execute(
                select(notifications.c.id).where(notifications.c.customer_id == cid)
            ).scalars()
        )
        sent = conn.execute(
            select(deliveries.c.id).where(deliveries.c.notification_id.in_(notes))
        ).scalars()
        return [f"notification#{n}" for n in notes] + [f"delivery#{d}" for d in sent]


def test_exports_a_time_range_of_the_audit_log_from_the_audit_page(
    fresh: WebDriver, site: Site, downloads: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/audit")
    _wait_for(fresh, "#range-export")
    for field, value in (
        ("export-since", "2000-01-01T00:00"),
        ("export-until", "2999-01-01T00:00"),
    ):
        fresh.execute_script(f"document.getElementById('{field}').value = '{value}'")
    _press(fresh, By.ID, "export-range-jsonl")
    files = unzipped(_downloaded(downloads, "evidence-audit-*-jsonl-*.zip").read_bytes())
    lines = [json.loads(x) for x in files["evidence-audit.jsonl"].splitlines()]
    head = json.loads(files["evidence-audit.jsonl.manifest.json"])["chain"]["head_seq"]
    with site.engine.connect() as conn:
        stored = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash)
            .where(audit_events.c.seq <= head)
            .order_by(audit_events.c.seq)
        ).all()
    assert [(x["id"], x["hash"]) for x in lines] == [(int(q), str(h)) for q, h in stored]


def test_reveal_shows_the_full_phone_and_audit_and_campaign_pages_render(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/customers/{site.customer_id('C1001')}")
    _wait_for(fresh, "#reveal")
    button = _press(fresh, By.ID, "reveal")
    _next_page(fresh, button)
    assert site.phone("C1001") in fresh.find_element(By.ID, "phone").text
    _shot(fresh, shots, "05-customer-revealed")
    fresh.get(f"{site.url}/console/audit?action=console.")
    _wait_for(fresh, "#chain")
    assert fresh.find_element(By.ID, "chain").text.startswith("Chain intact")
    written = json.loads((site.directory / CHECKPOINT).read_text(encoding="utf-8"))
    checkpoint = fresh.find_element(By.ID, "checkpoint").text
    assert checkpoint.startswith(
        f"Last checkpoint: seq {written['seq']}, hash {written['hash'][:16]}"
    )
    assert checkpoint.endswith("The chain verifies against it.")
    assert "console.reveal" in fresh.page_source
    _shot(fresh, shots, "06-audit-log")
    fresh.get(f"{site.url}/console/campaigns")
    _wait_for(fresh, "#campaign-1")
    _shot(fresh, shots, "07-campaigns-compliance")


def test_an_operator_sees_pause_on_the_campaigns_page(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    _sign_in(fresh, site, "bob", PASSWORD)
    fresh.get(f"{site.url}/console/campaigns")
    _wait_for(fresh, "#campaign-1 button")
    assert fresh.find_element(By.CSS_SELECTOR, "#campaign-1 button").text in ("Pause", "Resume")
    _shot(fresh, shots, "08-campaigns-operator")


def test_a_form_with_a_forged_csrf_token_is_refused(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/customers/{site.customer_id('C1001')}")
    _wait_for(fresh, "#reveal")
    fresh.execute_script("document.querySelector('form.reveal input[name=csrf]').value = 'forged'")
    button = _press(fresh, By.ID, "reveal")
    _next_page(fresh, button)
    assert fresh.find_element(By.CSS_SELECTOR, "main h1").text == "Form refused (CSRF check failed)"
    assert site.phone("C1001") not in fresh.page_source
    _shot(fresh, shots, "09-csrf-refused")


def test_repeated_wrong_passwords_lock_the_account(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    site.add_user("locky-browser", "compliance")
    for _ in range(5):  # [console] max_failed_logins
        _sign_in(fresh, site, "locky-browser", "not-the-password")
        assert fresh.find_element(By.CSS_SELECTOR, "p.error").text == "wrong user name or password"
    _sign_in(fresh, site, "locky-browser", PASSWORD)
    error = fresh.find_element(By.CSS_SELECTOR, "p.error").text
    assert error.startswith("account locked until ")
    assert "/console/login" in fresh.current_url
    _shot(fresh, shots, "10-locked-out")


def test_the_campaign_report_shows_the_funnel_and_the_chart(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/campaigns")
    _wait_for(fresh, "#campaign-1 a")
    link = _press(fresh, By.CSS_SELECTOR, "#campaign-1 a")
    _next_page(fresh, link)
    _wait_for(fresh, "#chart svg")
    charts = fresh.find_elements(By.CSS_SELECTOR, "#chart svg svg")
    assert len(charts) == 2 and all(c.size["height"] > 100 for c in charts)
    with site.engine.connect() as conn:
        queued = conn.execute(
            select(func.count(func.distinct(notifications.c.id)))
            .select_from(deliveries.join(notifications))
            .where(notifications.c.campaign_id == 1, deliveries.c.channel == "voice")
        ).scalar_one()
    cells = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in fresh.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")
    ]
    assert ["voice", str(queued)] == next(c for c in cells if c[0] == "voice")[:2]
    _shot(fresh, shots, "11-campaign-report")


def test_a_campaign_name_with_markup_is_shown_as_text_and_runs_nothing(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    name = '<script>alert("name")</script><img src=x onerror=alert(1)>'
    made = site.cli(
        "campaign", "create", name, "--kind", "renewal", "--schedule", "0 10 * * *",
        "--timezone", "Europe/Berlin", "--segment", '{"expires_within_days": 14}',
        "--params", '{"renew_url": "https://shop.example/renew?c={external_id}"}',
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with site.engine.connect() as conn:
        cid = conn.execute(select(campaigns.c.id).where(campaigns.c.name == name)).scalar_one()
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/campaigns/{cid}")
    _wait_for(fresh, "#chart svg")
    with pytest.raises(NoAlertPresentException):
        fresh.switch_to.alert.accept()
    assert name in fresh.find_element(By.CSS_SELECTOR, "main h1").text
    title = fresh.find_element(By.CSS_SELECTOR, "#chart svg svg .titles text").text
    assert title.startswith(f"{name}: funnel per channel")  # pygal wraps the rest of the title
    assert fresh.execute_script("return document.scripts.length") == 0
    assert fresh.execute_script("return document.images.length") == 0
    _shot(fresh, shots, "12-campaign-report-markup-name")


def test_a_compliance_account_forgets_a_customer_in_two_steps(
    fresh: WebDriver, site: Site, shots: Path, downloads: Path
) -> None:
    cid = site.customer_id("C1008")
    before = last_seq(site.engine)
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/customers/{cid}")
    _wait_for(fresh, "#forget")
    link = _press(fresh, By.ID, "forget")
    _next_page(fresh, link)
    _wait_for(fresh, "#erase")
    fresh.find_element(By.ID, "reason").send_keys("GDPR Art. 17 request, ticket 5150")
    fresh.find_element(By.ID, "confirm").send_keys("C1008")
    _shot(fresh, shots, "13-forget-confirm")
    button = _press(fresh, By.ID, "erase")
    _next_page(fresh, button)
    _wait_for(fresh, "#forgotten")
    assert fresh.find_element(By.ID, "forgotten").text.startswith("Forgotten on ")
    ((actor, subject, data),) = events_after(site.engine, before, "customer.erased")
    assert (actor, subject) == ("console:alice", f"customer#{cid}")
    assert json.loads(data)["reason"] == "GDPR Art. 17 request, ticket 5150"
    with site.engine.connect() as conn:
        phone = conn.execute(
            select(customers.c.phone_e164).where(customers.c.id == cid)
        ).scalar_one()
    assert phone is None
    _shot(fresh, shots, "14-customer-forgotten")
    _press(fresh, By.ID, "export-jsonl")
    files = unzipped(_downloaded(downloads, "evidence-erased_*-jsonl-*.zip").read_bytes())
    (export,) = [text for n, text in files.items() if n.endswith(".jsonl")]
    assert [json.loads(x)["action"] for x in export.splitlines()] == ["customer.erased"]
