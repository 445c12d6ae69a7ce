from __future__ import annotations

import pytest

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import ForbiddenError
from gitconnect.domain.ids import new_id, stable_id
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
