"""The console in a real browser: headless Chromium (Debian ``chromium`` + ``chromium-driver``)
driven by Selenium against ``outbound serve`` on the demo database.

Screenshots of every page go to ``$CONSOLE_SHOTS`` (default: the test's temporary directory).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import require_tool
from tests.console.conftest import PASSWORD, Site

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


def _next_page(driver: WebDriver, clicked: WebElement) -> None:
    """Wait until the page that held ``clicked`` has been replaced by the answer."""
    WebDriverWait(driver, WAIT).until(ready.staleness_of(clicked))
    _wait_for(driver, "main h1")


def _sign_in(driver: WebDriver, site: Site, name: str, password: str) -> None:
    driver.get(f"{site.url}/console/login")
    _wait_for(driver, "#name")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    button = driver.find_element(By.ID, "sign-in")
    button.click()
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
    fresh.find_element(By.ID, "find").click()
    _wait_for(fresh, "table a[href^='/console/customers/']")
    _shot(fresh, shots, "02-search")
    fresh.find_element(By.LINK_TEXT, "C1002").click()
    _wait_for(fresh, "#consents")
    assert fresh.find_element(By.CSS_SELECTOR, "main h1").text.startswith("Customer C1002")
    assert site.phone("C1002") not in fresh.page_source
    inbound = fresh.find_element(By.ID, "inbound").text
    assert "STOP" in inbound
    _shot(fresh, shots, "03-customer-history")
    fresh.find_element(By.PARTIAL_LINK_TEXT, "why?").click()
    _wait_for(fresh, "#why")
    why = fresh.find_element(By.ID, "why").text
    assert why.startswith("notification ") and "decision 1 (rung 0" in why
    _shot(fresh, shots, "04-decision")


def test_exports_a_customers_evidence_as_a_download(
    fresh: WebDriver, site: Site, downloads: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/customers/{site.customer_id('C1002')}")
    _wait_for(fresh, "#export")
    fresh.find_element(By.ID, "export").click()
    deadline = time.monotonic() + WAIT
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = [p for p in downloads.glob("customer-*-evidence-*.jsonl")]
        time.sleep(0.2)  # polling interval, bounded by the deadline
    assert files, "no evidence file downloaded"
    first = json.loads(files[0].read_text().splitlines()[0])
    assert first["type"] == "customer" and first["external_id"] == "C1002"


def test_reveal_shows_the_full_phone_and_audit_and_campaign_pages_render(
    fresh: WebDriver, site: Site, shots: Path
) -> None:
    _sign_in(fresh, site, "alice", PASSWORD)
    fresh.get(f"{site.url}/console/customers/{site.customer_id('C1001')}")
    _wait_for(fresh, "#reveal")
    button = fresh.find_element(By.ID, "reveal")
    button.click()
    _next_page(fresh, button)
    assert site.phone("C1001") in fresh.find_element(By.ID, "phone").text
    _shot(fresh, shots, "05-customer-revealed")
    fresh.get(f"{site.url}/console/audit?action=console.")
    _wait_for(fresh, "#chain")
    assert fresh.find_element(By.ID, "chain").text.startswith("Chain intact")
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
    button = fresh.find_element(By.ID, "reveal")
    button.click()
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
