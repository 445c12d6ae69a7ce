from __future__ import annotations

import pytest


# Bounded, but each fuzz run takes seconds: `-m "not slow"` skips the tier.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)
