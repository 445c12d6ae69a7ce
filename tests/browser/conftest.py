from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import BrowserUnavailable, ensure_chromium, start_driver


# A real browser against the local stack: part of `make test`, marked so `-m "not slow"` skips the tier.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Debian's chromium and chromium-driver, installed once per session when missing (as root)."""
    try:
        return ensure_chromium()
    except BrowserUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def driver(chromium: tuple[str, str]) -> Iterator[Any]:
    browser = start_driver(*chromium)
    try:
        yield browser
    finally:
        browser.quit()
