"""Reading the locks (`make lock`: uv pip compile --generate-hashes) and what an environment has installed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_LOCK = ROOT / "layers/deps/requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.txt"
_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """package -> version, every pin of the lock."""
    found = {}
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def hashed(lock: Path) -> dict[str, int]:
    """package -> how many --hash lines follow its pin."""
    counts: dict[str, int] = {}
    current = None
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = canonical(match.group(1))
            counts[current] = 0
        elif current and line.strip().startswith("--hash=sha256:"):
            counts[current] += 1
    return counts


def installed(site: Path) -> dict[str, str]:
    """package -> version of the *.dist-info directories in `site` (a layer's python/ or a venv's site-packages)."""
    found = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[canonical(name)] = version
    return found
