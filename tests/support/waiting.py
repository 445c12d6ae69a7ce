"""Waiting for a positive signal from something that runs on its own (the local stack's pollers, schedules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(check: Callable[[], Any], seconds: float = 15) -> Any:
    """`check()`'s first truthy value, or its last value once `seconds` have passed (the caller asserts on it)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)
