"""GitLab as an OAuth 2.0 provider (authorization code + PKCE, refresh tokens): pure helpers plus the two token
requests, made over the injected `HttpClient` (docs.gitlab.com/api/oauth2).

- PKCE (RFC 7636): `new_verifier()` and `challenge()` (method S256); GitLab verifies the verifier at the code exchange.
- `authorize_url()` is where the browser goes (`GET {base}/oauth/authorize`, response_type=code).
- `exchange_code()` and `refresh()` are `POST {base}/oauth/token` with a form body. GitLab (Doorkeeper) answers
  `{"access_token", "token_type", "expires_in": 7200, "refresh_token", "scope", "created_at"}`.
- Every refresh invalidates the access *and* refresh token it was made with and returns a new pair, so a refresh
  must happen once per connection at a time (callers serialize it), and a refresh POST is never retried blindly: the
  HTTP client only resends a POST when nothing was sent. `invalid_grant` on refresh raises `RefreshRefusedError`:
  the refresh token is spent or revoked and the connection needs linking again.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from gitconnect.domain.errors import (
    RefreshRefusedError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import HttpClient, HttpResponse, Tokens

UNRESERVED = string.ascii_letters + string.digits + "-._~"  # RFC 7636 §4.1 (RFC 3986 §2.3)
VERIFIER_MIN, VERIFIER_MAX = 43, 128
CHALLENGE_METHOD = "S256"
DEFAULT_SCOPES: tuple[str, ...] = ("api",)
ACCESS_TOKEN_LIFETIME = 7200  # GitLab's access tokens last two hours
USER_AGENT = "gitconnect"


# -- PKCE ------------------------------------------------------------------------------------------------------------


def new_verifier(length: int = 64) -> str:
    """A PKCE code verifier: `length` (43..128) random characters of the unreserved set."""
    if not VERIFIER_MIN <= length <= VERIFIER_MAX:
        raise ValueError(f"a PKCE code verifier has {VERIFIER_MIN} to {VERIFIER_MAX} characters")
    return "".join(secrets.choice(UNRESERVED) for _ in range(length))


def challenge(verifier: str) -> str:
    """The S256 code challenge: BASE64URL(SHA256(ASCII(verifier))) without padding."""
    if not VERIFIER_MIN <= len(verifier) <= VERIFIER_MAX or any(c not in UNRESERVED for c in verifier):
        raise ValueError("not a PKCE code verifier (43 to 128 characters of A-Z a-z 0-9 - . _ ~)")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- the browser leg ---------------------------------------------------------------------------------------------------


def authorize_url(
    base_url: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    scopes: Sequence[str] = DEFAULT_SCOPES,
) -> str:
    """`{base}/oauth/authorize?…`: GitLab asks the user to approve, then redirects to `redirect_uri` with `code` and
    `state`. Scopes are space-separated."""
    query = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": state,
        "scope": " ".join(scopes),
        "code_challenge": code_challenge,
        "code_challenge_method": CHALLENGE_METHOD,
    }
    return f"{base_url.rstrip('/')}/oauth/authorize?{urlencode(query)}"


# -- the token endpoint ------------------------------------------------------------------------------------------------


def exchange_code(
    http: HttpClient,
    base_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    *,
    clock: Callable[[], float] = time.time,
) -> Tokens:
    """Trade the callback's `code` (with the PKCE verifier of the authorize request) for a token pair.

    A wrong, reused or expired code, a redirect_uri that is not the authorize request's, or a verifier that does not
    match the challenge: GitLab answers `invalid_grant` and this raises RemoteAuthError (extra `error`)."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    response = _token_request(http, base_url, form)
    body = _token_body(response, "the OAuth code exchange")
    error = body.get("error")
    if error:
        raise RemoteAuthError(f"GitLab refused the OAuth code: {_describe(body)}", error=str(error))
    return _tokens(body, "the OAuth code exchange", clock)


def refresh(
    http: HttpClient,
    base_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    redirect_uri: str,
    *,
    clock: Callable[[], float] = time.time,
) -> Tokens:
    """A new token pair for a refresh token. GitLab revokes the old access and refresh tokens at once.

    `invalid_grant` (spent, revoked or unknown refresh token) raises RefreshRefusedError: mark the connection as
    needing to be linked again. Wrong client credentials raise RemoteAuthError (a configuration problem, not the
    connection's)."""
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "redirect_uri": redirect_uri,
    }
    response = _token_request(http, base_url, form)
    body = _token_body(response, "the OAuth token refresh")
    error = body.get("error")
    if error == "invalid_grant":
        raise RefreshRefusedError(
            f"GitLab refused to refresh the tokens ({_describe(body)}): the connection must be linked again",
            error="invalid_grant",
        )
    if error:
        raise RemoteAuthError(f"GitLab refused the token refresh: {_describe(body)}", error=str(error))
    return _tokens(body, "the OAuth token refresh", clock)


def _token_request(http: HttpClient, base_url: str, form: dict[str, str]) -> HttpResponse:
    return http.request(
        "POST",
        f"{base_url.rstrip('/')}/oauth/token",
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        form=form,
    )


def _token_body(response: HttpResponse, what: str) -> dict[str, Any]:
    """The JSON object of a token answer: tokens on 200, `{"error", "error_description"}` on 400/401."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status == 200 and isinstance(body, dict):
        return body
    if response.status in (400, 401, 403) and isinstance(body, dict) and isinstance(body.get("error"), str):
        return body
    if response.status == 404:
        raise RemoteUnreachableError(f"GitLab has no OAuth token endpoint there ({what}: HTTP 404)")
    if response.status >= 500:
        raise RemoteUnreachableError(f"GitLab failed to answer {what} (HTTP {response.status})")
    raise RemoteUnreachableError(f"GitLab answered {what} with HTTP {response.status} and no OAuth answer")


def _describe(body: dict[str, Any]) -> str:
    description = body.get("error_description")
    text = description if isinstance(description, str) and description.strip() else str(body.get("error"))
    return text.strip()[:300]


def _tokens(body: dict[str, Any], what: str, clock: Callable[[], float]) -> Tokens:
    access, refresh_token = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh_token, str) or not refresh_token:
        raise RemoteUnreachableError(f"GitLab answered {what} without an access and a refresh token")
    expires_in = body.get("expires_in")
    created_at = body.get("created_at")
    if expires_in is None:
        expires_at = None
    elif isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        start = created_at if isinstance(created_at, int | float) and not isinstance(created_at, bool) else clock()
        expires_at = float(start) + float(expires_in)
    else:
        raise UnprocessableError(f"GitLab answered {what} with an expires_in that is not a number")
    scope = body.get("scope")
    return Tokens(access, refresh_token, expires_at, scope if isinstance(scope, str) else None)
