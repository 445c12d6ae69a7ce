"""Trigger rules of a source: branch/tag globs. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` and `?` stay within one path segment, `**` crosses segments: `release/*` matches `release/1.2` only."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(name: str, pattern: str) -> bool:
    return _glob_regex(pattern).match(name) is not None


def is_glob(pattern: str) -> bool:
    """Whether a pattern matches more than the one name it spells."""
    return any(c in pattern for c in "*?")


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(glob_match(name, p) for p in patterns)


def validate_glob(pattern: str) -> str | None:
    """Why a glob is unusable, or None when it is fine."""
    if not pattern or pattern != pattern.strip():
        return "must be a non-empty pattern without surrounding spaces"
    if len(pattern) > 200:
        return "is longer than 200 characters"
    if any(c in pattern for c in "\x00\n\r\\"):
        return "contains a control character or a backslash"
    return None
