"""Bitbucket Cloud as an OAuth 2.0 provider (authorization code grant, refresh tokens), over the injected
`HttpClient` (support.atlassian.com "Use OAuth on Bitbucket Cloud").

- The deployment's OAuth consumer (`BITBUCKET_CLIENT_ID`/`BITBUCKET_CLIENT_SECRET`) has one callback URL, set on the
  consumer; the authorize request names only the client and the state.
- `POST {web}/site/oauth2/access_token`, the client authenticated with HTTP Basic and a form body, answers
  `{"access_token", "token_type": "bearer", "expires_in": 7200, "refresh_token", "scopes", "state"}`.
- Access tokens last two hours; every refresh returns a new refresh token and the old pair stops working, so a
  refresh happens once per connection at a time (callers serialize it) and is never retried blindly.
  `invalid_grant` on refresh raises RefreshRefusedError: the connection must be linked again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from gitconnect.domain.errors import RefreshRefusedError, RemoteAuthError, RemoteUnreachableError
from gitconnect.providers.base import HttpClient, Tokens
from gitconnect.providers.bitbucket.api import USER_AGENT, basic_auth


def authorize_url(web_url: str, client_id: str, state: str) -> str:
    query = {"client_id": client_id, "response_type": "code", "state": state}
    return f"{web_url.rstrip('/')}/site/oauth2/authorize?{urlencode(query)}"


def exchange_code(
    http: HttpClient,
    web_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    *,
    clock: Callable[[], float] = time.time,
) -> Tokens:
    """Trade the callback's `code` for a token pair (RemoteAuthError with Bitbucket's reason when refused)."""
    body = _token_request(http, web_url, client_id, client_secret, {"grant_type": "authorization_code", "code": code})
    if body.get("error"):
        raise RemoteAuthError(f"Bitbucket refused the OAuth code: {_describe(body)}", error=str(body["error"]))
    return _tokens(body, clock)


def refresh(
    http: HttpClient,
    web_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    clock: Callable[[], float] = time.time,
) -> Tokens:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    body = _token_request(http, web_url, client_id, client_secret, form)
    if body.get("error") == "invalid_grant":
        raise RefreshRefusedError(
            f"Bitbucket refused to refresh the tokens ({_describe(body)}): the connection must be linked again",
            error="invalid_grant",
        )
    if body.get("error"):
        raise RemoteAuthError(f"Bitbucket refused the token refresh: {_describe(body)}", error=str(body["error"]))
    return _tokens(body, clock)


def _token_request(
    http: HttpClient, web_url: str, client_id: str, client_secret: str, form: dict[str, str]
) -> dict[str, Any]:
    if not client_id or not client_secret:
        raise RemoteAuthError("Bitbucket OAuth is not configured (BITBUCKET_CLIENT_ID, BITBUCKET_CLIENT_SECRET)")
    response = http.request(
        "POST",
        f"{web_url.rstrip('/')}/site/oauth2/access_token",
        headers={
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": basic_auth(client_id, client_secret),
        },
        form=form,
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (response.status == 200 or isinstance(body.get("error"), str)):
        return body
    raise RemoteUnreachableError(f"Bitbucket's OAuth token endpoint answered HTTP {response.status}")


def _describe(body: dict[str, Any]) -> str:
    text = body.get("error_description") or body.get("error")
    return str(text).strip()[:300]


def _tokens(body: dict[str, Any], clock: Callable[[], float]) -> Tokens:
    access, refresh_token = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh_token, str) or not refresh_token:
        raise RemoteUnreachableError("Bitbucket answered the token request without an access and a refresh token")
    expires_in = body.get("expires_in")
    expires_at = clock() + float(expires_in) if isinstance(expires_in, int | float) else None
    scopes = body.get("scopes")
    return Tokens(access, refresh_token, expires_at, scopes if isinstance(scopes, str) else None)
