"""The HTTP client providers use (the `HttpClient` port): one requests.Session behind the SSRF guard.

- Every connection, redirects included, is opened by `gitconnect.adapters.net`'s guarded connection classes, and
  the session never reads the environment (no proxies, no .netrc): a proxy would bypass the guard.
- Every call has a connect and a read timeout, and the body it reads is capped.
- Idempotent requests are retried a bounded number of times on transport errors and 502/503/504; any request is
  retried when the connection could not even be opened (nothing was sent).
- Rate limits are honoured (GitHub: 403/429 with `Retry-After`, or `x-ratelimit-remaining: 0` with
  `x-ratelimit-reset`, or a "secondary rate limit" message): a short wait is slept (once) and the request retried;
  a longer one raises `RateLimitedError` so the caller (a queue consumer) retries later instead of holding a Lambda.
- Headers and bodies are never logged (they carry tokens).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from gitconnect.adapters.net import guarded_pool_classes, resolve_checked
from gitconnect.domain.errors import RateLimitedError, RemoteUnreachableError, UnsafeUrlError
from gitconnect.providers.base import HttpResponse

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: "Otherwise, wait for at least one minute before retrying."
MAX_BODY_BYTES = 32 * 1024 * 1024


class _GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools open guarded connections and which refuses to use a proxy."""

    def __init__(self, *, allow_loopback: bool, pool_maxsize: int = 10) -> None:
        self._allow_loopback = allow_loopback
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(allow_loopback=self._allow_loopback)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UnsafeUrlError("outbound HTTP never goes through a proxy")


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def rate_limit_wait(status: int, headers: Mapping[str, str], body: bytes, now: float) -> float | None:
    """How long the remote asks us to wait, or None when the response is not a rate limit (a plain 403)."""
    if status not in (403, 429):
        return None
    after = retry_after_seconds(headers.get("retry-after"), now)
    if after is not None:
        return after
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - now)
        except ValueError:
            return SECONDARY_LIMIT_WAIT
    if status == 429 or b"rate limit" in body[:2048].lower():
        return SECONDARY_LIMIT_WAIT
    return None


def _transport_reason(exc: requests.RequestException) -> str:
    """A short reason without urllib3's pool descriptions (they name internals and object addresses)."""
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connecting timed out"
    if isinstance(exc, requests.exceptions.Timeout):
        return "it did not answer in time"
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "the connection failed" if _nothing_sent(exc) else "the connection broke"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "its response could not be decoded"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "the URL is not valid"
    return "the request failed"


def _nothing_sent(exc: BaseException) -> bool:
    """True when the connection could not be opened at all, so even a POST is safe to send again."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
            return True
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            current = current.reason
            continue
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = nested or current.__cause__ or current.__context__
    return False


class RequestsHttpClient:
    """`HttpClient` over one requests.Session (thread-safe enough for concurrent GETs from one Lambda)."""

    def __init__(
        self,
        allow_loopback: bool,
        timeout: float,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        *,
        clock: Callable[[], float] = time.time,
        retries: int = 2,
        backoff: float = 0.25,
        max_body: int = MAX_BODY_BYTES,
        observer: Callable[[str, Mapping[str, str]], None] | None = None,
    ) -> None:
        self._observer = observer  # shown every answer's URL and headers (a connection's rate_limit)
        self._timeout = (min(timeout, 5.0), timeout)
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self._clock = clock
        self._retries = retries
        self._backoff = backoff
        self._max_body = max_body
        session = requests.Session()
        session.trust_env = False  # no proxies, no .netrc, no REQUESTS_CA_BUNDLE games from the environment
        session.proxies = {}
        session.max_redirects = 5
        self._allow_loopback = allow_loopback
        adapter = _GuardedAdapter(allow_loopback=allow_loopback)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        method = method.upper()
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:  # an unbalanced IPv6 bracket, a port out of range
            raise UnsafeUrlError(f"the URL is not valid: {exc}") from None
        host = parts.hostname or "the remote"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeUrlError(f"only http(s) URLs are fetched, not {url.split(':', 1)[0]!r}")
        # Refused before anything is sent (the connection classes check again, and connect to the checked address;
        # this early check also holds where something above urllib3 answers requests itself, like test mocks).
        resolve_checked(parts.hostname, port, allow_loopback=self._allow_loopback)
        transient_left = self._retries
        rate_limit_retried = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, url, headers, params, json_body, form)
            except requests.RequestException as exc:
                retryable = method in IDEMPOTENT_METHODS or _nothing_sent(exc)
                if retryable and transient_left > 0 and not isinstance(exc, requests.exceptions.TooManyRedirects):
                    transient_left -= 1
                    self._sleep(self._backoff * attempt)
                    continue
                raise RemoteUnreachableError(f"{host} could not be reached: {_transport_reason(exc)}") from None
            if self._observer is not None:
                self._observer(url, response.headers)
            if response.status in RETRY_STATUSES and method in IDEMPOTENT_METHODS and transient_left > 0:
                transient_left -= 1
                after = retry_after_seconds(response.headers.get("retry-after"), self._clock())
                self._sleep(after if after is not None and after <= self._max_retry_after else self._backoff * attempt)
                continue
            wait = rate_limit_wait(response.status, response.headers, response.body, self._clock())
            if wait is None:
                return response
            if not rate_limit_retried and wait <= self._max_retry_after:
                rate_limit_retried = True
                log.warning("rate limited by %s; waiting %.1f s before retrying once", host, wait)
                self._sleep(wait)
                continue
            raise RateLimitedError(f"{host} is rate limiting our requests; retry in {wait:.0f} s", retry_after=wait)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
    ) -> HttpResponse:
        with self._session.request(
            method,
            url,
            headers=dict(headers or {}),
            params=dict(params or {}),
            json=json_body,
            data=dict(form) if form is not None else None,
            timeout=self._timeout,
            stream=True,
            allow_redirects=True,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self._max_body:
                    host = urlsplit(url).hostname or "the remote"
                    raise RemoteUnreachableError(f"{host} answered with more than {self._max_body} bytes")
                chunks.append(chunk)
            return HttpResponse(
                status=response.status_code,
                headers={name.lower(): value for name, value in response.headers.items()},
                body=b"".join(chunks),
            )
