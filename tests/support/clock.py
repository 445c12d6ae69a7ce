"""A clock tests set by hand, for code and fakes that take `clock: Callable[[], float]`."""

from __future__ import annotations


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
