"""Identifiers: time-ordered random ids for new records, content-derived ids where retries must collapse."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """A ULID-like id: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    return f"{prefix}_{_b32(int(time.time() * 1000), 10)}{_b32(secrets.randbits(80), 16)}"


def stable_id(prefix: str, *parts: str) -> str:
    """The same parts always give the same id: a retried request lands on the record it already created."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return f"{prefix}_{_b32(int.from_bytes(digest[:16], 'big'), 26)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


class IsoClock:
    """`iso(utcnow())` for a hot path: the same text for a third of the CPU (the date and time of day are formatted
    once per second, the milliseconds looked up)."""

    def __init__(self, now_ns: Callable[[], int] = time.time_ns) -> None:
        self._now_ns = now_ns
        self._second_ns = self._next_ns = 0  # the second `_prefix` is, as [start, end) in ns
        self._prefix = ""

    def __call__(self) -> str:
        ns = self._now_ns()
        if not self._second_ns <= ns < self._next_ns:  # another second (or the clock stepped back)
            second = ns // 1_000_000_000
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second_ns, self._next_ns = second * 1_000_000_000, (second + 1) * 1_000_000_000
        return self._prefix + _MILLISECONDS[(ns - self._second_ns) // 1_000_000]
