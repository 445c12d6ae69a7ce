from __future__ import annotations

import pytest


# Every test here starts the local stack as a subprocess: mark them so `-m "not e2e"` (or "not slow") can skip the
# slow tier.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
