"""When background work is due next: spread with jitter so sources created together do not poll together, and backed
off while a remote keeps failing. Epoch seconds throughout; `rand` returns a float in [0, 1)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

MIN_POLL_SECONDS = 60  # the shortest interval a source may ask for (`poll_seconds`)
MAX_POLL_SECONDS = 86400  # and the longest
MAX_BACKOFF_SECONDS = 3600.0  # a failing remote is still polled at least hourly
JITTER = 0.10  # next poll: the interval ± 10 %


def first_due(now: float, interval: float, rand: Callable[[], float]) -> float:
    """A new polled source's first poll: anywhere within its first interval (0: at once)."""
    return now + interval * rand()


def next_due(now: float, interval: float, rand: Callable[[], float]) -> float:
    """The poll after this one: one interval on, ± 10 %."""
    return now + interval * (1 - JITTER + 2 * JITTER * rand())


def backoff_due(now: float, interval: float, consecutive_failures: int) -> float:
    """After the n-th failed poll in a row: the interval doubled n times, at most an hour (never sooner than one
    interval)."""
    exponent = min(max(consecutive_failures, 0), 32)  # 2**32 intervals exceed the cap anyway
    return now + min(interval * 2.0**exponent, max(interval, MAX_BACKOFF_SECONDS))


def aligned_due(now: float, interval: float, group: str) -> float:
    """The next check of an item that shares its work with a group (templates on one repository branch share one head
    check): the first instant after half an interval from now at the group's own phase (from its name). Every item of
    a group is then due at the same moment and is claimed by the same scheduled run; groups spread over the interval."""
    if interval <= 0:
        return now
    phase = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big") % max(1, int(interval * 1000)) / 1000
    return phase + math.ceil((now + interval / 2 - phase) / interval) * interval


@dataclass(frozen=True)
class DueItem:
    """A due source or hook as its index shows it: enough to claim it and to compute its next due time."""

    team_id: str
    id: str
    due_at: float
    interval: float | None  # its own interval (a source's poll_seconds); None: the kind's default
    group: str | None = None  # items that share their work (a lane with `aligned`): due together, at its phase


@dataclass(frozen=True)
class SyncItem:
    """One piece of due work, as the sync queue carries it: `{"kind": "poll"|"hook", "team_id": …, "id": …}` (a
    source id to poll, a hook id to check)."""

    kind: str
    team_id: str
    id: str

    def to_message(self) -> dict[str, str]:
        return {"kind": self.kind, "team_id": self.team_id, "id": self.id}

    @classmethod
    def from_message(cls, body: dict[str, object]) -> SyncItem:
        return cls(str(body["kind"]), str(body["team_id"]), str(body["id"]))
