"""TtlCache: answers kept for their lifetime, at most `size` of them, the least recently used forgotten first (a full
cache drops one entry, not all: 4 097 hooks do not make every hook's next delivery read its secret again)."""

from __future__ import annotations

from gitconnect.services.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_full_cache_forgets_the_least_recently_used_entry_only() -> None:
    asked: list[str] = []
    cache = TtlCache(lambda key: asked.append(key) or key.upper(), 300, size=3, clock=Clock())
    for key in ("a", "b", "c"):
        cache(key)
    cache("a")  # used again: "b" is now the least recently used
    cache("d")  # one over the size
    asked.clear()
    assert [cache(k) for k in ("a", "c", "d")] == ["A", "C", "D"] and asked == []
    assert cache("b") == "B" and asked == ["b"]  # only the evicted one is asked for again


def test_answers_expire_and_refresh_respects_its_minimum_interval() -> None:
    clock, asked = Clock(), []
    cache = TtlCache(lambda key: asked.append(key) or len(asked), 60, min_refresh_seconds=10, clock=clock)
    assert cache("k") == 1
    clock.now = 5
    assert cache.refresh("k") == 1  # younger than 10 s: not asked again
    clock.now = 11
    assert cache.refresh("k") == 2
    clock.now = 75
    assert cache("k") == 3 and asked == ["k", "k", "k"]
