from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import ForbiddenError
from gitconnect.domain.ids import IsoClock, iso, new_id, stable_id
from gitconnect.domain.rules import glob_match, validate_glob


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        ("main", "main", True),
        ("main", "mai", False),
        ("release/1.2", "release/*", True),
        ("release/1.2/hotfix", "release/*", False),
        ("release/1.2/hotfix", "release/**", True),
        ("feature-x", "feature-?", True),
        ("v1.2.3", "v*", True),
        ("a.b", "a?b", True),
        ("a+b", "a+b", True),  # regex metacharacters are literal
        ("aab", "a+b", False),
    ],
)
def test_glob_match(name: str, pattern: str, expected: bool) -> None:
    assert glob_match(name, pattern) is expected


def test_glob_validation() -> None:
    assert validate_glob("release/*") is None
    assert validate_glob(" main") is not None
    assert validate_glob("") is not None
    assert validate_glob("a\\b") is not None


def test_new_ids_sort_by_time_and_stable_ids_repeat() -> None:
    first, second = new_id("bld"), new_id("bld")
    assert first.startswith("bld_") and first != second
    assert stable_id("bld", "s", "main", "a") == stable_id("bld", "s", "main", "a")
    assert stable_id("bld", "s", "main", "a") != stable_id("bld", "s", "mai", "na")


def test_principal_roles() -> None:
    p = Principal("u", {"t1": "admin", "t2": "member"})
    p.require("t1", "admin")
    p.require("t2", "member")
    with pytest.raises(ForbiddenError):
        p.require("t2", "admin")
    with pytest.raises(ForbiddenError):
        p.require("t3")


@pytest.mark.parametrize("ns", [0, 999_999, 1_000_000, 1_796_232_326_325_999_999, 1_796_232_326_999_000_000,
                                1_796_232_327_000_000_000, 1_796_232_327_000_999_999, 1_830_297_599_999_999_999])
def test_the_iso_clock_writes_what_iso_writes(ns: int) -> None:
    clock = IsoClock(lambda: ns)
    expected = iso(datetime.fromtimestamp(ns // 1000 / 1_000_000, UTC))  # microseconds, as datetime.now() has them
    assert clock() == expected
    assert clock() == expected  # the second call reads the cached date and time of day


def test_the_iso_clock_moves_on_at_each_second() -> None:
    ticks = iter([1_796_232_326_999_000_000, 1_796_232_327_001_000_000, 1_796_232_387_000_000_000,
                  1_796_232_386_500_000_000])  # the last a step back (an NTP correction)
    clock = IsoClock(lambda: next(ticks))
    assert [clock(), clock(), clock(), clock()] == ["2026-12-02T17:25:26.999Z", "2026-12-02T17:25:27.001Z",
                                                    "2026-12-02T17:26:27.000Z", "2026-12-02T17:26:26.500Z"]
