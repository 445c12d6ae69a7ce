"""A connection's `rate_limit` (issue 13 item 3): each provider's documented headers read, and written only when
worth it (domain/ratelimits.worth_recording; services/ratelimits.RateLimitRecorder), never once per call."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gitconnect.domain.models import Connection
from gitconnect.domain.ratelimits import RateLimit, parse, worth_recording
from gitconnect.services.ratelimits import RateLimitRecorder, acting_for

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("headers", "expected"), [
    # GitHub: x-ratelimit-* on every REST answer, reset in epoch seconds
    ({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990", "x-ratelimit-reset": "1800003600",
      "x-ratelimit-used": "10", "x-ratelimit-resource": "core"}, (4990, 5000, 1800003600.0)),
    # GitLab: RateLimit-*, reset in epoch seconds (RateLimit-ResetTime is the same as an HTTP date)
    ({"ratelimit-limit": "2000", "ratelimit-remaining": "1999", "ratelimit-reset": "1800000060",
      "ratelimit-observed": "1", "ratelimit-name": "throttle_authenticated_api"}, (1999, 2000, 1800000060.0)),
    # Bitbucket Cloud: X-RateLimit-Limit and -Remaining over a rolling hour, no reset named
    ({"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "998", "x-ratelimit-resource": "api",
      "x-ratelimit-nearlimit": "false"}, (998, 1000, None)),
])
def test_each_providers_documented_headers_are_read(headers: dict[str, str],
                                                    expected: tuple[int, int, float | None]) -> None:
    seen = parse(headers, NOW)
    assert seen is not None and (seen.remaining, seen.limit, seen.reset_at) == expected


def test_an_answer_without_them_states_nothing() -> None:
    assert parse({"content-type": "application/json", "x-ratelimit-remaining": "many"}, NOW) is None


def limit(remaining: int, reset: float | None = NOW + 3600, total: int = 5000) -> RateLimit:
    return RateLimit(remaining, total, reset, NOW)


def test_written_when_new_a_new_window_a_tenth_moved_or_low() -> None:
    assert worth_recording(limit(4999), None)
    assert not worth_recording(limit(4600), limit(4999))  # 399 of 5 000: less than a tenth
    assert worth_recording(limit(4499), limit(4999))
    assert worth_recording(limit(4998, reset=NOW + 7200), limit(4999))  # a new window
    assert not worth_recording(limit(460), limit(499))  # low: steps of 1 % (50)
    assert worth_recording(limit(449), limit(499))
    assert worth_recording(limit(0), limit(10))


@dataclass
class _Store:
    written: list[tuple[str, str, int]] = field(default_factory=list)

    def set_rate_limit(self, team_id: str, connection_id: str, rate_limit: RateLimit) -> bool:
        self.written.append((team_id, connection_id, rate_limit.remaining))
        return True


def _connection(team: str, ident: str) -> Connection:
    return Connection(team, ident, "github", "n", "acct", None, "active", "2026-01-01T00:00:00.000Z")


def test_a_window_of_calls_costs_a_few_writes_per_connection_not_one_per_call() -> None:
    store = _Store()
    recorder = RateLimitRecorder(lambda: store, clock=lambda: NOW)
    acting_for(_connection("t1", "c1"))
    for used in range(5000):  # a whole GitHub window spent by one connection
        recorder.observe("https://api.github.com/repos/o/r/branches",
                         {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(4999 - used),
                          "x-ratelimit-reset": str(int(NOW) + 3600)})
    assert 10 <= len(store.written) <= 25 and store.written[-1] == ("t1", "c1", 0)
    # The App's own requests (its JWT) are no connection's
    acting_for(_connection("t1", "c2"))
    recorder.observe("https://api.github.com/app/hook/deliveries", {"x-ratelimit-remaining": "1"})
    assert all(c != "c2" for _, c, _ in store.written)
