"""A provider's rate limit as its last answer stated it, read from the headers each provider documents:
GitHub `x-ratelimit-limit` / `-remaining` / `-reset` (epoch seconds), GitLab `RateLimit-Limit` / `-Remaining` /
`-Reset` (epoch seconds), Bitbucket Cloud `X-RateLimit-Limit` / `-Remaining` (a rolling hour: no reset time, so
`reset_at` is None). Header names are lower-case here (the HTTP adapter's form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gitconnect.domain.ids import iso

# (remaining, limit, reset) header names, in the order tried: GitHub and Bitbucket share the X- names.
_NAMES = (
    ("x-ratelimit-remaining", "x-ratelimit-limit", "x-ratelimit-reset"),
    ("ratelimit-remaining", "ratelimit-limit", "ratelimit-reset"),
)
LOW_SHARE = 0.10  # below this share of the limit a connection is "low": recorded more often
STEP_SHARE = 0.10  # above it, recorded when remaining moved by this share of the limit
LOW_STEP_SHARE = 0.01  # below it, by this share


@dataclass(frozen=True)
class RateLimit:
    remaining: int
    limit: int | None
    reset_at: float | None  # epoch seconds; None: the provider names no reset (Bitbucket's rolling hour)
    observed_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "remaining": self.remaining,
            "limit": self.limit,
            "reset_at": None if self.reset_at is None else iso(datetime.fromtimestamp(self.reset_at, UTC)),
            "observed_at": iso(datetime.fromtimestamp(self.observed_at, UTC)),
        }

    def to_record(self) -> dict[str, float | int | None]:
        return {"remaining": self.remaining, "limit": self.limit, "reset_at": self.reset_at,
                "observed_at": self.observed_at}

    @classmethod
    def from_record(cls, data: Mapping[str, object] | None) -> RateLimit | None:
        if not data or not isinstance(data.get("remaining"), int | float):
            return None

        def number(name: str) -> float | None:
            value = data.get(name)
            return float(value) if isinstance(value, int | float) else None

        limit = number("limit")
        return cls(int(number("remaining") or 0), None if limit is None else int(limit), number("reset_at"),
                   number("observed_at") or 0.0)


def _int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def parse(headers: Mapping[str, str], now: float) -> RateLimit | None:
    """The rate limit an answer states; None when it states none."""
    for remaining_name, limit_name, reset_name in _NAMES:
        remaining = _int(headers.get(remaining_name))
        if remaining is not None:
            return RateLimit(remaining, _int(headers.get(limit_name)), _reset(headers.get(reset_name)), now)
    return None


def _reset(value: str | None) -> float | None:
    seconds = _int(value)
    return None if seconds is None else float(seconds)


def worth_recording(new: RateLimit, last: RateLimit | None) -> bool:
    """Whether an answer's limit is worth a write, given the last one written: the first, a new window (another
    reset time), a move of 10 % of the limit, or, when low (under 10 % left), of 1 % of it and the last one left.
    At most about 20 writes per window and container, never one per call."""
    if last is None or (new.reset_at != last.reset_at and (new.reset_at or 0) > (last.reset_at or 0) + 1):
        return True
    limit = new.limit or last.limit or 0
    if limit <= 0:
        return new.remaining != last.remaining and (new.remaining == 0 or last.remaining == 0)
    low = new.remaining < limit * LOW_SHARE
    step = limit * (LOW_STEP_SHARE if low else STEP_SHARE)
    return abs(new.remaining - last.remaining) >= max(step, 1) or (new.remaining == 0 != last.remaining)
