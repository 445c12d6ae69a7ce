"""The listing bench's report: figures per phase against DESIGN.md §8 (⌈repos/100⌉ cold, none warm)."""

from __future__ import annotations

from collections import Counter

from bench.listing import Phase, report


def phases(cold: int, warm: int) -> list[Phase]:
    return [
        Phase("first page, cold", 1, Counter({"/installation/repositories": cold, "/app/installations/…": 1}), [900.0]),
        Phase("the next pages", 49, Counter(), [20.0] * 49),
        Phase("a repeated listing, warm", 50, Counter({"/installation/repositories": warm}), [21.0] * 50),
    ]


def test_within_budget_and_over_it() -> None:
    within = report(phases(50, 0))
    assert any("first page, cold" in line and " 50 " in line and "ok" in line for line in within)
    assert not any("OVER BUDGET" in line for line in within)
    over = report(phases(51, 2))
    assert sum("OVER BUDGET" in line for line in over) == 2
