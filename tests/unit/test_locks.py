"""The dependency locks: hashed, generated from unpinned top-level lists, the layer's and the tools' at the same
versions, and this venv is exactly the dev lock (`make venv` installs it with --require-hashes --no-deps)."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from tests.support.locks import DEV_LOCK, LAYER_LOCK, ROOT, canonical, hashed, installed, pins


def test_every_pin_is_hashed() -> None:
    for lock in (LAYER_LOCK, DEV_LOCK):
        counts = hashed(lock)
        unhashed = [p for p, n in counts.items() if not n]
        assert counts and not unhashed, f"{lock.name}: pins without hashes {unhashed}"


def test_the_top_level_lists_are_unpinned_and_locked() -> None:
    for listing, lock in ((ROOT / "layers/deps/requirements.in", LAYER_LOCK), (ROOT / "requirements-dev.in", DEV_LOCK)):
        lines = [line.partition("#") for line in listing.read_text().splitlines()]
        entries = [(n.strip(), why.strip()) for n, _, why in lines if n.strip() and not n.strip().startswith("-")]
        names = [n.split("<")[0] for n, _ in entries]
        # Only an upper bound with its reason on the line (a known incompatibility) is allowed; nothing is pinned
        bounds_ok = all(why for n, why in entries if "<" in n)
        assert names and bounds_ok and not [n for n in names if any(op in n for op in "=<>~")], \
            f"{listing.name} pins: {entries}"
        locked = pins(lock)
        assert {canonical(n.split("[")[0]) for n in names} <= set(locked), f"{lock.name} misses some of {listing.name}"


def test_the_tools_run_the_layer_versions() -> None:
    layer, dev = pins(LAYER_LOCK), pins(DEV_LOCK)
    assert {p: (v, dev.get(p)) for p, v in layer.items() if dev.get(p) != v} == {}


def test_this_venv_is_the_dev_lock() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    assert Path(sys.prefix) != Path(sys.base_prefix), "not a venv"
    have = installed(site)
    wanted = pins(DEV_LOCK)
    differ = {p: (v, have.get(p)) for p, v in wanted.items() if have.get(p) != v}
    assert not differ, f"{site} differs from requirements-dev.txt (locked, installed): {differ}; run `make venv`"
    extra = set(have) - set(wanted) - {"pip", "setuptools"}  # what `python -m venv` itself installs
    assert not extra, f"installed but not locked: {sorted(extra)}"
