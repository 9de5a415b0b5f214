"""Helpers for the browser tests: the explorer's server on a free port, and Debian's chromium
headless under selenium. Also run as a script to take the README's screenshots of the panes:

    python -m tests.browser figures/explorer      # from the repository root
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Without the background-networking flags chromium's own requests fail on a closed network,
# and the page's console would show them.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1100",
)
ROOT = Path(__file__).resolve().parent.parent


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def explorer_server(cache: Path | None, timeout: float = 60) -> Iterator[str]:
    """``lbsim explore`` on a free port (``cache``: its ``$LBSIM_CACHE``, None: the user's);
    yields the address once it answers, stops it afterwards."""
    port = free_port()
    env = os.environ | {"OMP_NUM_THREADS": "1"} | ({"LBSIM_CACHE": str(cache)} if cache else {})
    command = [sys.executable, "-m", "largebatch_sim.cli", "explore", "--port", str(port)]
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the explorer's server stopped:\n{log.read().decode()}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(address + "voila/static/voila.js", timeout=2)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the explorer's server did not answer at {address}")
            time.sleep(0.5)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium (fresh profile) driven by selenium, its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="lbsim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = condition()
            if value:
                return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(0.2)


def find(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def open_explorer(driver: Any, address: str, timeout: float = 90) -> None:
    """Load the page and wait until the kernel has drawn the widgets."""
    driver.get(address)
    wait_for(lambda: find(driver, "img.lbsim-live-plot"), timeout, "the explorer's widgets")


def show_tab(driver: Any, title: str) -> None:
    from selenium.webdriver.common.by import By

    tabs = driver.find_elements(By.CSS_SELECTOR, ".lbsim-explorer > .lm-TabBar .lm-TabBar-tab")
    next(t for t in tabs if t.text.strip() == title).click()


def set_text(driver: Any, css: str, value: str) -> None:
    """Type ``value`` into a text widget and commit it (ipywidgets sends it on Enter)."""
    from selenium.webdriver.common.keys import Keys

    box = find(driver, css + " input")
    box.send_keys(Keys.CONTROL, "a")  # typing replaces the selection (clear() is not heard)
    box.send_keys(value, Keys.ENTER)


def severe_console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def pick_largest_version(driver: Any) -> None:
    """Show the code version with the most runs (labels read "<version> (<n> runs)")."""
    from selenium.webdriver.support.select import Select

    menu = Select(find(driver, ".lbsim-results-version select"))
    runs = [int(o.text.split("(")[-1].split()[-2]) for o in menu.options]
    largest = menu.options[runs.index(max(runs))]
    version = largest.text.split()[0]
    menu.select_by_visible_text(largest.text)
    message = ".lbsim-results-message"
    wait_for(lambda: f"version {version}" in find(driver, message).text, 300, version)


def take_screenshots(out_dir: Path) -> None:
    """One screenshot per pane over the user's result cache: the results (the version with the
    most runs, digits) and the quadratic model first (the live run adds its runs to the cache),
    then the default live run."""
    from selenium.webdriver.support.select import Select

    out_dir.mkdir(parents=True, exist_ok=True)
    with explorer_server(None, timeout=120) as address, chromium() as driver:
        open_explorer(driver, address, timeout=180)
        show_tab(driver, "Results")
        wait_for(lambda: "runs of" in find(driver, ".lbsim-results-message").text, 300, "runs")
        pick_largest_version(driver)
        Select(find(driver, ".lbsim-results-data select")).select_by_visible_text("digits")
        time.sleep(8)
        driver.save_screenshot(str(out_dir / "results.png"))
        show_tab(driver, "Quadratic model")
        time.sleep(2)
        driver.save_screenshot(str(out_dir / "quadratic_model.png"))
        show_tab(driver, "Live training")
        find(driver, ".lbsim-train").click()
        wait_for(lambda: find(driver, ".lbsim-outcome"), 600, "the live run to finish")
        time.sleep(2)
        driver.save_screenshot(str(out_dir / "live.png"))


if __name__ == "__main__":
    take_screenshots(Path(sys.argv[1]))
