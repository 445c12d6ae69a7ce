"""The REST core the provider API clients share (GitHub, GitLab, Bitbucket). It is sans-I/O like gidgethub: every
request goes through the injected `HttpClient` port, and decoding, error mapping and pagination are pure and
written once here. Each provider module keeps its endpoints, its `Dialect` and its quirks.

- `RestClient.request` builds the URL and headers, sends the request, returns None for the "missing" answers the
  caller names, raises one domain error per meaning and decodes the JSON body.
- Errors are the same for every provider, and the provider's own message goes into the detail (`STATUS_ERRORS`):
  401/403 → RemoteAuthError, 404 → NotFoundError, 409 → ConflictError, 400/422 → UnprocessableError,
  429 (or a 403 that says it is a rate limit) → RateLimitedError with the wait until the limit resets,
  5xx → RemoteUnreachableError ("failed to answer"), any other status → RemoteUnreachableError ("answered HTTP n").
- Lists are read to the end with the provider's `Pagination`, bounded by max_pages: `LinkHeader` (GitHub),
  `NextPageHeader` (GitLab) or `BodyNext` (Bitbucket). Our token goes with every request, so a `next` URL is
  followed only when `same_origin` holds; a link anywhere else is an error, never a silently short list. A list
  longer than max_pages is an error too (ListTooLongError, naming the bound), never a silently short one.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

from gitconnect.domain.errors import (
    ConflictError,
    GitconnectError,
    NotFoundError,
    RateLimitedError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import HttpClient, HttpResponse

USER_AGENT = "gitconnect"
# At the providers' largest page size (100) that is 10 000 items per list (5 000 repositories: 50 pages), about as
# many as one API request (30 s at the gateway) can read.
MAX_PAGES = 100
MESSAGE_MAX = 300

Params = Mapping[str, str | int]

# One meaning per status, worded the same for every provider: {name} the provider, {what} the request,
# {message} the provider's own error text.
STATUS_ERRORS: Mapping[int, tuple[type[GitconnectError], str]] = {
    400: (UnprocessableError, "{name} refused {what}: {message}"),
    401: (RemoteAuthError, "{name} refused the credentials for {what}: {message}"),
    403: (RemoteAuthError, "{name} did not allow {what}: {message}"),
    404: (NotFoundError, "{what}: {name} answered {message}"),
    409: (ConflictError, "{name} refused {what}: {message}"),
    422: (UnprocessableError, "{name} refused {what}: {message}"),
}
# Epoch seconds at which a rate limit resets (GitHub `x-ratelimit-reset`, GitLab `RateLimit-Reset`).
_RESET_HEADERS = ("x-ratelimit-reset", "ratelimit-reset")
_REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^;\s,]+))', re.IGNORECASE)


class ListTooLongError(UnprocessableError, title="List too long"):
    """A provider list with more pages than gitconnect reads: said, never silently cut short."""


# -- pure pieces --------------------------------------------------------------------------------------------------


def segment(value: str | int) -> str:
    """One URL path segment, percent-quoted (`feature/login` → `feature%2Flogin`, `group/app` → `group%2Fapp`).

    `.` and `..` are refused: quoting leaves them as they are, and URL normalisation (urllib3's, the server's)
    would make them move the request, with our token, to another endpoint."""
    text = str(value)
    if not text:
        raise UnprocessableError("an empty name cannot be part of an API path")
    if text in (".", ".."):
        raise UnprocessableError(f"{text!r} cannot be part of an API path")
    return quote(text, safe="")


def segments(path: str) -> str:
    """A file path inside a URL path: each segment percent-quoted, the `/` between them kept (no `.` or `..`)."""
    if any(part in (".", "..") for part in path.split("/")):
        raise UnprocessableError(f"a path with `.` or `..` in it cannot be part of an API path: {path!r}")
    return quote(path, safe="/")


def next_link(link_header: str | None) -> str | None:
    """The URL of rel="next" in an RFC 8288 `Link` header, or None (commas inside quoted parameters are fine)."""
    header = link_header or ""
    position = 0
    while (start := header.find("<", position)) >= 0:
        end = header.find(">", start)
        if end < 0:
            return None
        cursor, quoted = end + 1, False
        while cursor < len(header) and (quoted or header[cursor] != ","):
            if header[cursor] == "\\" and quoted:
                cursor += 1
            elif header[cursor] == '"':
                quoted = not quoted
            cursor += 1
        for quoted_rel, bare_rel in _REL.findall(header[end + 1 : cursor]):
            if "next" in (quoted_rel or bare_rel).lower().split():
                return header[start + 1 : end].strip()
        position = cursor + 1
    return None


def same_origin(url: str, base: str) -> bool:
    """True when `url` may be sent our token: an absolute URL with the scheme and host[:port] of `base` exactly
    (host case aside), no user info, and no character two URL parsers could read differently (white space or
    control characters, which urlsplit drops silently)."""
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        return False
    try:
        target, home = urlsplit(url), urlsplit(base)
    except ValueError:  # an unbalanced IPv6 bracket
        return False
    if not target.netloc or "@" in target.netloc:
        return False
    return (target.scheme, target.netloc.lower()) == (home.scheme, home.netloc.lower())


def without_none(**fields: Any) -> dict[str, Any]:
    """A request body of the fields that are set (the APIs take an absent field as "not given", not null)."""
    return {name: value for name, value in fields.items() if value is not None}


def json_or_none(response: HttpResponse) -> Any:
    """The body as JSON, None when it is empty or not JSON (for reading error bodies)."""
    try:
        return response.json()
    except ValueError:
        return None


def bounded(text: str, response: HttpResponse) -> str:
    """An error message cut to MESSAGE_MAX, or the status when there is none."""
    text = text.strip()
    return text[:MESSAGE_MAX] if text else f"HTTP {response.status}"


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """How long a rate-limited answer asks us to wait: `Retry-After` (seconds or an HTTP date), else the time until
    the limit resets; None when it does not say."""
    value = (headers.get("retry-after") or "").strip()
    if value.isdigit():
        return float(value)
    when: float | None = None
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            when = None
    resets = [float(r) for r in (headers.get(name, "").strip() for name in _RESET_HEADERS) if r.isdigit()]
    if when is None and resets:
        when = resets[0]
    return None if when is None else max(0.0, when - now)


def is_rate_limited(response: HttpResponse, message: str) -> bool:
    """429, or GitHub's 403 for its primary (`x-ratelimit-remaining: 0`) and secondary (Retry-After, "secondary rate
    limit") limits. A plain 403 is a permission refusal."""
    if response.status == 429:
        return True
    headers = response.headers
    return response.status == 403 and (
        headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers or "rate limit" in message.lower()
    )


def next_page(response: HttpResponse) -> dict[str, str] | None:
    """GitLab: the query of the next page, or None on the last one.

    Offset pagination: `X-Next-Page` (an empty value on the last page). Without that header (keyset pagination, or
    a proxy that strips it), the query of `Link` rel="next"."""
    headers = response.headers
    if "x-next-page" in headers:
        number = headers["x-next-page"].strip()
        return {"page": number} if number.isdigit() else None
    url = next_link(headers.get("link"))
    if url is None:
        return None
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


# -- pagination strategies ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Next:
    """Where the next page is: an absolute `url` to follow as given (same origin only), or our own URL again with
    other `params`."""

    url: str | None = None
    params: Params | None = None


class Pagination(Protocol):
    @property
    def items_key(self) -> str | None:
        """Where a page's items are in its body; None: the body is the list."""
        ...

    def first(self, params: Params) -> dict[str, str | int]:
        """The first request's parameters: the caller's plus the page size."""
        ...

    def following(self, response: HttpResponse, body: Any, first: Params) -> Next | None:
        """The next page, None after the last."""
        ...


@dataclass(frozen=True)
class LinkHeader:
    """GitHub: the `Link` header's rel="next", an absolute URL (which may name the repository by id)."""

    per_page: int = 100
    items_key: str | None = None

    def first(self, params: Params) -> dict[str, str | int]:
        return {**params, "per_page": self.per_page}

    def following(self, response: HttpResponse, body: Any, first: Params) -> Next | None:
        url = next_link(response.headers.get("link"))
        return None if url is None else Next(url=url)


@dataclass(frozen=True)
class NextPageHeader:
    """GitLab: `X-Next-Page`, else `Link` rel="next" (keyset pagination, or a proxy that drops X- headers).

    GitLab builds Link on its configured external_url, which may not be the URL we were given: the link's query is
    reused on our own URL, so the token never goes to the host it names."""

    per_page: int = 100
    items_key: str | None = None

    def first(self, params: Params) -> dict[str, str | int]:
        return {**params, "per_page": self.per_page}

    def following(self, response: HttpResponse, body: Any, first: Params) -> Next | None:
        query = next_page(response)
        if query is None:
            return None
        # A page number goes with our first request's parameters; a keyset link's query is the whole request.
        return Next(params={**first, **query} if set(query) == {"page"} else query)


@dataclass(frozen=True)
class BodyNext:
    """Bitbucket: pages `{"values", "next"?}`, `next` an absolute URL carrying every parameter of the request."""

    pagelen: int = 100
    items_key: str | None = "values"

    def first(self, params: Params) -> dict[str, str | int]:
        return {**params, "pagelen": self.pagelen}

    def following(self, response: HttpResponse, body: Any, first: Params) -> Next | None:
        url = body.get("next") if isinstance(body, dict) else None
        return Next(url=url) if isinstance(url, str) and url else None


# -- the client -------------------------------------------------------------------------------------------------------


def bearer(token: str) -> str:
    return f"Bearer {token}"


def _no_extra(response: HttpResponse) -> dict[str, object]:
    return {}


@dataclass(frozen=True)
class Dialect:
    """What differs between the providers' REST APIs, apart from their endpoints."""

    name: str  # how errors name the remote: "GitHub"
    message: Callable[[HttpResponse], str]  # its error text from an error body, bounded
    pagination: Pagination
    headers: Mapping[str, str] = field(default_factory=lambda: {"Accept": "application/json"})
    authorization: Callable[[str], str] = bearer  # the token → the Authorization header
    auth_extra: Callable[[HttpResponse], dict[str, object]] = _no_extra  # e.g. the OAuth error code of a 401

    def raise_for_status(
        self, response: HttpResponse, what: str, *, not_found: str | None = None, now: float | None = None
    ) -> None:
        """Nothing for a 2xx; otherwise the domain error for the status (module docstring), the provider's message
        in its detail."""
        status = response.status
        if 200 <= status < 300:
            return
        message = self.message(response)
        if is_rate_limited(response, message):
            wait = retry_after(response.headers, time.time() if now is None else now)
            later = "" if wait is None else f"; retry in {wait:.0f} s"
            raise RateLimitedError(f"{self.name} is rate limiting {what}{later}: {message}", retry_after=wait)
        if status in STATUS_ERRORS:
            error, template = STATUS_ERRORS[status]
            detail = template.format(name=self.name, what=what, message=message)
            if status == 404 and not_found:
                detail = not_found
            raise error(detail, **(self.auth_extra(response) if error is RemoteAuthError else {}))
        if status >= 500:
            raise RemoteUnreachableError(f"{self.name} failed to answer {what} (HTTP {status}): {message}")
        raise RemoteUnreachableError(f"{self.name} answered {what} with HTTP {status}: {message}")


Missing = Collection[int] | Callable[[HttpResponse], bool]


def _is_missing(response: HttpResponse, missing: Missing) -> bool:
    if 200 <= response.status < 300:
        return False
    return missing(response) if callable(missing) else response.status in missing


class RestClient:
    """One provider's REST API at `api_url`, reached through the `HttpClient` port."""

    def __init__(
        self,
        http: HttpClient,
        api_url: str,
        dialect: Dialect,
        *,
        max_pages: int = MAX_PAGES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self.api_url = api_url.rstrip("/")
        self.dialect = dialect
        self._max_pages = max_pages
        self._clock = clock

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {**self.dialect.headers, "User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = self.dialect.authorization(token)
        return headers

    def call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        params: Params | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """The raw answer to `method api_url+path` (for the quirks that read it before `check`); `headers` go with
        the dialect's (e.g. a conditional request's If-None-Match)."""
        sent = {**self._headers(token), **(headers or {})}
        return self._http.request(method, self.api_url + path, headers=sent, params=params, json_body=json_body,
                                  form=form)

    @property
    def max_pages(self) -> int:
        return self._max_pages

    def get_url(
        self, url: str, token: str | None, *, params: Params | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """The raw answer to GET `url` (a page link on the API's own origin, which the caller checked)."""
        return self._http.request("GET", url, headers={**self._headers(token), **(headers or {})}, params=params)

    def check(self, response: HttpResponse, what: str, *, not_found: str | None = None) -> HttpResponse:
        """The response when it is a 2xx; the domain error for its status otherwise."""
        self.dialect.raise_for_status(response, what, not_found=not_found, now=self._clock())
        return response

    def decode(self, response: HttpResponse, what: str) -> Any:
        """The JSON body; RemoteUnreachableError when there is none or it is not JSON (so a None from `request`
        always means a `missing` answer)."""
        name = self.dialect.name
        if not response.body:
            raise RemoteUnreachableError(f"{name} answered {what} without a body")
        try:
            return response.json()
        except ValueError:
            raise RemoteUnreachableError(f"{name} answered {what} with something that is not JSON") from None

    def request(
        self,
        method: str,
        path: str,
        token: str | None,
        what: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        missing: Missing = (),
        not_found: str | None = None,
    ) -> Any:
        """The decoded JSON answer to one request; None when the remote answers one of the `missing` statuses (or
        the `missing` predicate holds for an error answer); the domain error for any other error answer. `what`
        names the request in error details; `not_found` replaces the detail of a 404."""
        response = self.call(method, path, token, params=params, json_body=json_body, form=form)
        if _is_missing(response, missing):
            return None
        return self.decode(self.check(response, what, not_found=not_found), what)

    def done(
        self,
        method: str,
        path: str,
        token: str | None,
        what: str,
        *,
        json_body: Any = None,
        missing: Missing = (404,),
        not_found: str | None = None,
    ) -> bool:
        """True when the remote did it (a 2xx, whatever the body), False when it answered a `missing` status."""
        response = self.call(method, path, token, json_body=json_body)
        if _is_missing(response, missing):
            return False
        self.check(response, what, not_found=not_found)
        return True

    def pages(
        self, path: str, token: str | None, what: str, *, params: Params | None = None, items_key: str | None = None
    ) -> list[Any]:
        """Every item of a paginated list, page after page as the dialect's pagination says (bounded by max_pages:
        ListTooLongError when there are more)."""
        return [item for page in self.each_page(path, token, what, params=params, items_key=items_key) for item in page]

    def each_page(
        self, path: str, token: str | None, what: str, *, params: Params | None = None, items_key: str | None = None
    ) -> Iterator[list[Any]]:
        """The pages of a paginated list, one request each, as they are asked for (a caller that has read enough
        stops there); bounded by max_pages: ListTooLongError when the list goes on."""
        pagination = self.dialect.pagination
        key = items_key or pagination.items_key
        first = pagination.first(params or {})
        read = 0
        query: Params | None
        url, query = self.api_url + path, first
        for page in range(1, self._max_pages + 1):
            response = self.check(self._http.request("GET", url, headers=self._headers(token), params=query), what)
            body = self.decode(response, what)
            chunk = body if key is None else body.get(key) if isinstance(body, dict) else None
            if not isinstance(chunk, list):
                raise RemoteUnreachableError(f"{self.dialect.name} answered {what} with an unexpected shape")
            read += len(chunk)
            yield chunk
            following = pagination.following(response, body, first)
            if following is None:
                return
            if following.url is not None and not same_origin(following.url, self.api_url):
                host = urlsplit(self.api_url).netloc
                raise RemoteUnreachableError(f"{self.dialect.name}'s pagination link for {what} leaves {host}")
            if page == self._max_pages:
                break
            if following.url is not None:
                url, query = following.url, None
            else:
                url, query = self.api_url + path, following.params
        raise ListTooLongError(
            f"{self.dialect.name} has more than {self._max_pages} pages ({read} items read) of {what}: "
            f"gitconnect reads at most {self._max_pages} pages of a list"
        )
