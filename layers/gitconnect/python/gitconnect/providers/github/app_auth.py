"""GitHub App authentication: the App's JWT and its installation access tokens.

Pure logic plus the injected `HttpClient`. An installation token lives an hour; it is cached per installation
until five minutes before it expires and fetched by one caller while the others wait (never per webhook).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import jwt

from gitconnect.domain.errors import GitconnectError, RemoteUnreachableError
from gitconnect.providers.base import HttpClient
from gitconnect.providers.github.api import GitHubApi

JWT_BACKDATE = 60  # GitHub: set iat 60 s in the past to allow for clock drift
JWT_LIFETIME = 540  # GitHub refuses an exp more than 10 minutes ahead; 9 leaves room for drift
REFRESH_MARGIN = 300  # a cached installation token is replaced 5 minutes before it expires


def _private_key(pem: str) -> str:
    # Keys pasted into one-line settings often carry literal "\n" sequences instead of newlines.
    if "-----BEGIN" in pem and "\n" not in pem.strip() and "\\n" in pem:
        pem = pem.replace("\\n", "\n")
    return pem


def app_jwt(app_id: str, private_key_pem: str, now: float) -> str:
    """The App's RS256 JWT: `iss` the App id, `iat` back-dated 60 s, `exp` 9 minutes ahead."""
    issued = int(now)
    claims = {"iat": issued - JWT_BACKDATE, "exp": issued + JWT_LIFETIME, "iss": str(app_id)}
    try:
        return jwt.encode(claims, _private_key(private_key_pem), algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise GitconnectError(
            f"GITHUB_APP_PRIVATE_KEY is not a usable RSA private key in PEM form ({type(exc).__name__})"
        ) from None


def parse_timestamp(value: str) -> float:
    """GitHub's ISO 8601 timestamps ("2016-07-11T22:14:10Z") as epoch seconds."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        raise RemoteUnreachableError(f"GitHub answered an unreadable expiry time {value!r}") from None


class InstallationTokens:
    """Installation access tokens, cached per installation; thread-safe with one lock per installation, so N
    concurrent callers for the same installation make one request and the others reuse its token."""

    def __init__(
        self,
        http: HttpClient,
        api_url: str,
        app_id: str,
        private_key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = GitHubApi(http, api_url)
        self._app_id = str(app_id)
        self._private_key = private_key
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def app_jwt(self) -> str:
        """A fresh App JWT (for the /app endpoints)."""
        return app_jwt(self._app_id, self._private_key, self._clock())

    def token(self, installation_id: int | str) -> str:
        key = str(installation_id)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        with self._lock_for(key):
            cached = self._fresh(key)  # another caller may have fetched it while we waited
            if cached is not None:
                return cached
            body = self._api.create_installation_token(self.app_jwt(), key)
            token = str(body["token"])
            self._tokens[key] = (token, parse_timestamp(str(body["expires_at"])))
            return token

    def invalidate(self, installation_id: int | str) -> None:
        """Forget a cached token (GitHub refused it: revoked, or the installation was removed)."""
        self._tokens.pop(str(installation_id), None)

    def _fresh(self, key: str) -> str | None:
        entry = self._tokens.get(key)
        if entry is not None and entry[1] - REFRESH_MARGIN > self._clock():
            return entry[0]
        return None

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())
