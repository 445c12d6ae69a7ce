"""The refs push deliveries named, one state-table item per repository (adapters/dynamo/seen.py), under moto: it
stays bounded however many branches a repository's pushes name (DynamoDB refuses items over 400 KB, which would fail
every later push of that repository), keeping what was named recently."""

from __future__ import annotations

import pytest

from gitconnect import wiring
from gitconnect.adapters.dynamo import seen as seen_module
from gitconnect.adapters.dynamo.seen import FRESH_SECONDS
from tests.support.inprocess import System

MAX_REFS = 40  # the bound, made small: moto answers each write with the whole item (the real one is 1 000)


def test_a_repository_with_thousands_of_branches_keeps_its_item_bounded(
        system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_module, "MAX_REFS", MAX_REFS)
    seen = wiring.stores().seen
    now = 1_800_000_000.0
    # Given pushes naming a new branch each (a branch per pull request) for a month, far past MAX_REFS
    old = now - 2 * FRESH_SECONDS
    for n in range(MAX_REFS):
        seen.record("github", "42", {f"refs/heads/pr-{n}": f"{n:040x}"}, old + n)
    for n in range(MAX_REFS, 2 * MAX_REFS + 500):
        seen.record("github", "42", {f"refs/heads/pr-{n}": f"{n:040x}"}, now - 2 * MAX_REFS - 500 + n)
    # Then the item holds at most MAX_REFS refs, the stale ones gone, and what the last push named is there
    refs = seen.get("github", "42")
    assert 0 < len(refs) <= MAX_REFS
    assert all(r.at >= now - FRESH_SECONDS - 2 * MAX_REFS for r in refs.values())
    last = f"refs/heads/pr-{2 * MAX_REFS + 499}"
    assert refs[last].sha == f"{2 * MAX_REFS + 499:040x}"
    # ... and another repository's refs are not touched
    seen.record("github", "43", {"refs/heads/main": "a" * 40}, now)
    assert set(seen.get("github", "43")) == {"refs/heads/main"}
