"""`rate_limit` on a connection: what the provider's last answer said of its limit, recorded cheaply. The HTTP client
shows this recorder every answer; the answer is attributed to the connection whose credentials were opened last in
this thread (`ConnectionSecrets.access` says so through `acting_for`), GitHub App-level requests (`/app/…`, the App's
own JWT, another limit) excepted. A write happens only when the limit is worth it (domain/ratelimits.worth_recording:
the first answer, a new window, a move of 10 % of the limit, 1 % when under 10 % are left), per connection and
container: never one write per provider call. A failed write is logged and forgotten: the next answer tries again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Protocol
from urllib.parse import urlsplit

from gitconnect.domain.models import Connection
from gitconnect.domain.ratelimits import RateLimit, parse, worth_recording

log = logging.getLogger(__name__)

_ACTING_FOR: ContextVar[tuple[str, str] | None] = ContextVar("gitconnect_acting_for", default=None)
_GITHUB_APP_PATHS = ("/app/", "/api/v3/app/")  # the App's JWT: its own limit, no connection's


def acting_for(connection: Connection) -> None:
    """The provider calls that follow are made for this connection (until another one's credentials are opened)."""
    _ACTING_FOR.set((connection.team_id, connection.id))


class RateLimitStore(Protocol):
    def set_rate_limit(self, team_id: str, connection_id: str, rate_limit: RateLimit) -> bool: ...


class RateLimitRecorder:
    def __init__(self, store: Callable[[], RateLimitStore], clock: Callable[[], float] = time.time) -> None:
        self._store, self._clock = store, clock
        self._written: dict[tuple[str, str], RateLimit] = {}  # per connection: the last one written here
        self._lock = threading.Lock()
        self.writes = 0  # for the bench and tests

    def observe(self, url: str, headers: Mapping[str, str]) -> None:
        key = _ACTING_FOR.get()
        if key is None or urlsplit(url).path.startswith(_GITHUB_APP_PATHS):
            return
        seen = parse(headers, self._clock())
        if seen is None:
            return
        with self._lock:
            if not worth_recording(seen, self._written.get(key)):
                return
            self._written[key] = seen
        try:
            self._store().set_rate_limit(*key, seen)
            self.writes += 1
        except Exception:  # best effort: a provider call never fails for its bookkeeping
            log.warning("rate limit not recorded", exc_info=True, extra={"connection_id": key[1]})
            with self._lock:
                self._written.pop(key, None)
