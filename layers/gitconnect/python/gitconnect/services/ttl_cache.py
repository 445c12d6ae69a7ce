"""A one-argument function's answers remembered for a while (secrets: read rarely, never per request).

Pure (a clock, a dict; no I/O), and here rather than in `domain/` because it is a mechanism of the use cases, not a
record or rule of the problem; its users are the intake's secret policy (services/webhook_secrets.py) and the
listing service's per-connection lists (services/listing.py)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """`fn`'s answers remembered for `seconds`, at most `size` of them (the least recently used is forgotten first).
    `refresh` asks again unless the remembered answer is younger than `min_refresh` seconds. `lookup(key, load)` is
    the same cache for answers that need more than their key to be made (`fn` may then be None)."""

    def __init__(
        self,
        fn: Callable[[str], T] | None,
        seconds: float,
        size: int = 4096,
        min_refresh_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fn, self._seconds, self._size, self.min_refresh = fn, seconds, size, min_refresh_seconds
        self._clock = clock
        # key -> (fetched, expires, value), least recently used first
        self._remembered: OrderedDict[str, tuple[float, float, T]] = OrderedDict()

    def _fetch(self, key: str, now: float, load: Callable[[], T]) -> T:
        value = load()
        self._remembered[key] = (now, now + self._seconds, value)
        self._remembered.move_to_end(key)
        while len(self._remembered) > self._size:
            self._remembered.popitem(last=False)
        return value

    def _call(self, key: str) -> Callable[[], T]:
        fn = self._fn
        if fn is None:
            raise TypeError("this TtlCache has no function: use lookup(key, load)")
        return lambda: fn(key)

    def lookup(self, key: str, load: Callable[[], T]) -> T:
        """The answer remembered for `key`, else `load()`'s (then remembered)."""
        now = self._clock()
        hit = self._remembered.get(key)
        if hit and hit[1] > now:
            self._remembered.move_to_end(key)
            return hit[2]
        return self._fetch(key, now, load)

    def __call__(self, key: str) -> T:
        # The hit path first, without building a loader: the intake asks for its secrets on every delivery.
        now = self._clock()
        hit = self._remembered.get(key)
        if hit and hit[1] > now:
            self._remembered.move_to_end(key)
            return hit[2]
        return self._fetch(key, now, self._call(key))

    def refresh(self, key: str) -> T:
        now = self._clock()
        hit = self._remembered.get(key)
        return hit[2] if hit and now - hit[0] < self.min_refresh else self._fetch(key, now, self._call(key))


def ttl_cache(
    seconds: float, size: int = 4096, min_refresh_seconds: float = 0.0
) -> Callable[[Callable[[str], T]], TtlCache[T]]:
    """`TtlCache` as a decorator."""
    return lambda fn: TtlCache(fn, seconds, size, min_refresh_seconds)
