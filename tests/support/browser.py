"""Headless Chromium for the dashboard's tests: the system's Debian `chromium` and `chromium-driver` (installed with
apt-get once per session when missing and we are root), driven with Selenium. No browser is downloaded at test time.

    page = Page(driver, stack.api_url)
    page.open(stack.token)                       # /dashboard#token=… : signed in as the demo admin
    page.click_button("Link GitHub")
    page.wait_text("GitHub account linked.")
    page.screenshot("integrations")              # .local/screenshots/integrations.png (gitignored)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / ".local" / "screenshots"
CHROMIUM = ("chromium", "chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")
LAPTOP = (1280, 900)
PHONE = (390, 844)


class BrowserUnavailable(RuntimeError):
    pass


def ensure_chromium() -> tuple[str, str]:
    """The paths of chromium and chromedriver; installs Debian's packages first when they are missing and we may."""
    found = [shutil.which(name) for name in CHROMIUM]
    if all(found):
        return found[0] or "", found[1] or ""
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserUnavailable(f"{' and '.join(CHROMIUM)} are needed: apt-get install -y {' '.join(APT_PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES]
    if subprocess.run(install, env=env, capture_output=True, text=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600, check=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise BrowserUnavailable(f"apt-get could not install {' '.join(APT_PACKAGES)}:\n{done.stderr[-2000:]}")
    found = [shutil.which(name) for name in CHROMIUM]
    if not all(found):
        raise BrowserUnavailable(f"{' and '.join(CHROMIUM)} are still missing after apt-get install")
    return found[0] or "", found[1] or ""


def start_driver(chromium: str, chromedriver: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never downloads a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                     "--disable-background-networking", f"--window-size={LAPTOP[0]},{LAPTOP[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(30)
    return driver


class Page:
    """The dashboard in one browser: finding things by what a person sees (labels, button texts, headings)."""

    def __init__(self, driver: Any, api_url: str) -> None:
        self.driver = driver
        self.api_url = api_url

    def open(self, token: str, query: str = "") -> None:
        self.driver.get(f"{self.api_url}/dashboard{query}#token={token}")
        self.wait(lambda: self.driver.find_elements("css selector", "#nav button"), "the dashboard's sections")

    def wait(self, check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
        deadline = time.monotonic() + seconds
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = check()
                if value:
                    return value
            except Exception as exc:
                last = exc
            time.sleep(0.15)
        raise AssertionError(f"waited {seconds:.0f} s for {what}; the page says:\n{self.text()[:3000]}"
                             + (f"\n(last error: {last!r})" if last else ""))

    def text(self, css: str = "body") -> str:
        try:
            return "\n".join(e.text for e in self.driver.find_elements("css selector", css))
        except Exception:
            return ""

    def wait_text(self, text: str, css: str = "body", seconds: float = 20) -> None:
        self.wait(lambda: text in self.text(css), repr(text), seconds)

    def button(self, label: str, within: str = "body") -> Any:
        """The visible button (or button-styled link) whose text is `label`, the innermost dialog's first."""
        def find() -> Any:
            scopes = self.driver.find_elements("css selector", "dialog[open]") or \
                self.driver.find_elements("css selector", within)
            for scope in reversed(scopes):
                for node in scope.find_elements("css selector", "button, a.button"):
                    if node.text.strip() == label and node.is_displayed() and node.is_enabled():
                        return node
            return None
        return self.wait(find, f"a button {label!r}")

    def click_button(self, label: str, within: str = "body") -> None:
        self.button(label, within).click()

    def section(self, label: str) -> None:
        self.driver.find_element("css selector", f"#nav button[data-section='{label}']").click()
        self.wait(lambda: self.driver.find_element("css selector", f"#nav button[data-section='{label}']")
                  .get_attribute("aria-current") == "page", f"section {label}")

    def field(self, label: str) -> Any:
        """The control labelled `label` (its <label for>), in the open dialog if there is one."""
        def find() -> Any:
            scope = (self.driver.find_elements("css selector", "dialog[open]") or [self.driver])[-1]
            for node in scope.find_elements("css selector", "label"):
                if node.text.strip() == label and node.is_displayed():
                    return self.driver.find_element("id", node.get_attribute("for"))
            return None
        return self.wait(find, f"a control labelled {label!r}")

    def fill(self, label: str, value: str) -> None:
        control = self.field(label)
        control.clear()
        control.send_keys(value)

    def choose(self, label: str) -> None:
        """Ticks the radio button or checkbox labelled `label` (clicking its label, as a person does)."""
        control = self.field(label)
        if not control.is_selected():
            self.driver.find_element("css selector", f"label[for='{control.get_attribute('id')}']").click()

    def uncheck(self, label: str) -> None:
        """Clears the checkbox labelled `label` (clicking its label)."""
        control = self.field(label)
        if control.is_selected():
            self.driver.find_element("css selector", f"label[for='{control.get_attribute('id')}']").click()

    def select(self, label: str, visible_text: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.field(label)).select_by_visible_text(visible_text)

    def dialog_closed(self) -> None:
        self.wait(lambda: not self.driver.find_elements("css selector", "dialog[open]"), "the dialog to close")

    def screenshot(self, name: str, *, phone: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        width = PHONE[0] if phone else LAPTOP[0]
        if phone:
            self.driver.set_window_size(*PHONE)
            time.sleep(0.3)  # let the layout settle at the new width
        try:
            # The whole page, not only the window: the window is made as tall as the page for the picture.
            height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
            self.driver.set_window_size(width, max(min(height + 140, 6000), PHONE[1] if phone else LAPTOP[1]))
            time.sleep(0.2)
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.set_window_size(*LAPTOP)
        return path

    def wider_than_a_phone(self) -> list[str]:
        """At a phone's width, the elements that stick out of the page to the right (empty: it fits)."""
        self.driver.set_window_size(*PHONE)
        try:
            time.sleep(0.3)
            found = self.driver.execute_script("""
                const width = document.documentElement.clientWidth;
                return [...document.querySelectorAll('body *')]
                  .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > width + 1)
                  .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} ${e.textContent.slice(0, 40)}`);""")
            return list(found)
        finally:
            self.driver.set_window_size(*LAPTOP)

    def unlabelled_controls(self) -> list[str]:
        """Form controls on the page (and in an open dialog) that no label names: each is described by its HTML."""
        found = self.driver.execute_script("""
            return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
              .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
              .map((c) => c.outerHTML.slice(0, 160));""")
        return list(found)

    def console_errors(self) -> list[str]:
        """Errors the dashboard logged since the last call (script errors, its files failing to load), without the
        API's own 4xx answers, which the page shows as problems (Chromium logs each as a failed load), and without
        the provider pages the browser was sent to (the fakes serve no consent pages: the tests play them)."""
        def expected(entry: dict[str, Any]) -> bool:
            text = str(entry.get("message", ""))
            api_4xx = entry.get("source") == "network" and f"{self.api_url}/v1/" in text and "status of 4" in text
            return api_4xx or (entry.get("source") == "network" and self.api_url not in text)
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE" and not expected(e)]


def select_value(page: Page, label: str, value: str) -> None:
    """Picks the option whose value is `value` in the select labelled `label` (ids are what tests know)."""
    from selenium.webdriver.support.ui import Select

    Select(page.field(label)).select_by_value(value)


def wait_refreshing(page: Page, button: str, text: str, seconds: float = 30) -> None:
    """Clicks `button` (a page's Refresh) until `text` shows: for what the stack does on its own (polls, syncs)."""
    def check() -> bool:
        if text in page.text("#view"):
            return True
        page.click_button(button)
        time.sleep(0.5)
        return text in page.text("#view")
    page.wait(check, repr(text), seconds)
