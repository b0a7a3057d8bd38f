"""The console's front page (search and "Operations now", the numbers of ``outbound status``)
as a PNG, for the README: ``.venv/bin/python scripts/console_screenshot.py [--out PATH]``.

Reproducible from a checkout: ``outbound demo`` writes a fresh database in a temporary folder
(customers in ten time zones, all three kinds, SMS through the log channel), ``outbound user add``
makes a compliance account, ``outbound audit checkpoint`` writes a checkpoint, and ``outbound
serve --role api`` serves it on a free loopback port. The browser is the one the console tests
use (tests/console/test_console_browser.py): headless Chromium (Debian ``chromium`` and
``chromium-driver``) driven by Selenium, 1360 pixels wide, the window as tall as the page.
Every process it starts is stopped before it returns.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from outbound.testing.postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
WIDTH, WAIT = 1360, 60.0
USER, PASSWORD = "alice", "screenshot-password-1"


def _env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OUTBOUND_AUDIT_KEY": "screenshot-audit-key-" + "0123456789abcdef" * 2,
        "OUTBOUND_AUDIT_CHECKPOINT_TO": str(folder / "audit-checkpoint.json"),
    }


def _outbound(folder: Path, *args: str, stdin: str | None = None) -> None:
    cmd = [sys.executable, "-m", "outbound", "--config-dir", str(CONFIG), *args]
    done = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, env=_env(folder), cwd=folder, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"outbound {' '.join(args[:2])} failed:\n{done.stderr}")


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"outbound serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"outbound serve not ready at {url} within 120 s")


def _browser() -> webdriver.Chrome:
    options = Options()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WIDTH},900")
    driver = webdriver.Chrome(
        options=options, service=Service(shutil.which("chromedriver") or "chromedriver")
    )
    driver.set_page_load_timeout(WAIT)
    return driver


def _shoot(url: str, out: Path) -> None:
    driver = _browser()
    try:
        driver.get(f"{url}/console/login")
        wait = WebDriverWait(driver, WAIT)
        wait.until(ready.presence_of_element_located((By.ID, "name")))
        driver.find_element(By.ID, "name").send_keys(USER)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(ready.presence_of_element_located((By.ID, "operations")))
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(WIDTH, min(max(height + 200, 600), 4000))
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/console_screenshot.py")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "console.png")
    out = parser.parse_args(argv).out.resolve()
    with tempfile.TemporaryDirectory(prefix="outbound-console-shot-") as tmp:
        folder = Path(tmp)
        db = folder / "outbound-demo.db"
        _outbound(folder, "demo", "--file", str(db), "--log-channel", "--json")
        url_db = f"sqlite:///{db}"
        _outbound(folder, "--db", url_db, "user", "add", USER, "--role", "compliance",
                  "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        _outbound(folder, "--db", url_db, "audit", "checkpoint")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-m", "outbound", "--db", url_db, "--config-dir", str(CONFIG)]
        serve += ["serve", "--role", "api", "--host", "127.0.0.1", "--port", str(port)]
        with (folder / "serve.log").open("wb") as log:
            process = subprocess.Popen(
                serve, stdout=log, stderr=subprocess.STDOUT, env=_env(folder), cwd=folder
            )
            try:
                _wait_ready(url, process)
                _shoot(url, out)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
