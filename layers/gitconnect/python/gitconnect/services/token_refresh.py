"""Refreshing OAuth access tokens that expire (GitLab, Bitbucket: 2 hours; each refresh invalidates the old pair).

Refresh shortly before expiry, once: callers in one container wait on a lock, callers in other containers on a
lease in the state table, and everyone re-reads the connection afterwards and uses the pair the winner stored.
Two concurrent refreshes with one refresh token would revoke each other. A refusal marks the connection
`needs_relink` and every caller gets a clear error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from gitconnect.domain.errors import RefreshRefusedError, RemoteUnreachableError, UnprocessableError
from gitconnect.domain.models import Connection
from gitconnect.providers.base import Access, Provider, RefreshingCredentials

REFRESH_BEFORE_SECONDS = 300
LEASE_SECONDS = 30
WAIT_SECONDS = 15


class Leases(Protocol):
    def acquire(self, lease_id: str, expires_at: int) -> bool: ...
    def release(self, lease_id: str) -> None: ...


class CredentialRecords(Protocol):
    def get(self, team_id: str, connection_id: str) -> Connection | None: ...
    def set_secret(self, team_id: str, connection_id: str, secret: bytes) -> bool: ...
    def update_status(self, team_id: str, connection_id: str, status: str) -> bool: ...


class Sealer(Protocol):
    def seal(self, team_id: str, connection_id: str, credentials: dict[str, str] | None) -> bytes | None: ...
    def open(self, connection: Connection) -> dict[str, str] | None: ...


def expiring(credentials: dict[str, str] | None, now: float) -> bool:
    if not credentials or credentials.get("kind") != "oauth" or not credentials.get("expires_at"):
        return False
    return float(credentials["expires_at"]) - now < REFRESH_BEFORE_SECONDS


class TokenRefresher:
    def __init__(
        self,
        records: CredentialRecords,
        leases: Leases,
        sealer: Sealer,
        providers: Callable[[str], Provider],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._records, self._leases, self._sealer, self._providers = records, leases, sealer, providers
        self._clock, self._sleep = clock, sleep
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, connection_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(connection_id, threading.Lock())

    def _current(self, connection: Connection) -> tuple[Connection, dict[str, str] | None]:
        latest = self._records.get(connection.team_id, connection.id)
        if latest is None:
            raise UnprocessableError("the connection was unlinked")
        if latest.status == "needs_relink":
            raise RefreshRefusedError(
                f"{latest.provider} refused to refresh this connection's token: link it again", error="invalid_grant"
            )
        return latest, self._sealer.open(latest)

    def fresh(self, connection: Connection, credentials: dict[str, str] | None) -> dict[str, str] | None:
        """Credentials good for at least a few minutes (refreshed here if they were about to expire)."""
        if not expiring(credentials, self._clock()):
            return credentials
        with self._lock(connection.id):
            latest, credentials = self._current(connection)
            if not expiring(credentials, self._clock()):
                return credentials  # another caller in this container refreshed while we waited
            lease = f"refresh#{connection.id}"
            deadline = self._clock() + WAIT_SECONDS
            while not self._leases.acquire(lease, int(self._clock()) + LEASE_SECONDS):
                self._sleep(0.2)
                latest, credentials = self._current(connection)
                if not expiring(credentials, self._clock()):
                    return credentials  # another container refreshed
                if self._clock() > deadline:
                    raise RemoteUnreachableError("the token is being refreshed elsewhere and it took too long")
            try:
                latest, credentials = self._current(connection)
                if not expiring(credentials, self._clock()):
                    return credentials
                provider = self._providers(latest.provider)
                if not isinstance(provider, RefreshingCredentials):  # only OAuth credentials expire (see `expiring`)
                    raise UnprocessableError(f"{latest.provider} connections have no credentials to refresh")
                try:
                    renewed = provider.refresh_credentials(Access(latest.base_url, latest.account_key, credentials))
                except RefreshRefusedError:
                    self._records.update_status(latest.team_id, latest.id, "needs_relink")
                    raise
                sealed = self._sealer.seal(latest.team_id, latest.id, renewed)
                if sealed is not None:
                    self._records.set_secret(latest.team_id, latest.id, sealed)
                return renewed
            finally:
                self._leases.release(lease)
