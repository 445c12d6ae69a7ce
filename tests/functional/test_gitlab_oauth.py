"""GitLab OAuth (authorization code + PKCE, rotating refresh tokens) against the fake GitLab's token endpoint (the pure
pieces: tests/unit/test_gitlab_oauth_pkce.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import RefreshRefusedError, RemoteAuthError, RemoteUnreachableError, UnsafeUrlError
from gitconnect.providers.gitlab.api import GitLabApi
from gitconnect.providers.gitlab.oauth import Tokens, authorize_url, challenge, exchange_code, new_verifier, refresh
from tests.support.clock import Clock
from tests.support.fake_gitlab import FakeGitLab, FakeUser

REDIRECT = "https://gitconnect.example.com/v1/oauth/gitlab/callback"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gitlab(clock: Clock) -> Iterator[FakeGitLab]:
    with FakeGitLab(prefix="/gitlab", clock=clock, redirect_uris=[REDIRECT]) as fake:
        yield fake


@pytest.fixture
def mona(gitlab: FakeGitLab) -> FakeUser:
    return gitlab.add_user("mona")


def _linked(gitlab: FakeGitLab, http: RequestsHttpClient, user: FakeUser) -> Tokens:
    verifier = new_verifier()
    url = authorize_url(gitlab.base_url, gitlab.client_id, REDIRECT, "state-1", challenge(verifier))
    code = parse_qs(urlsplit(gitlab.approve(url, user)).query)["code"][0]
    return exchange_code(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, code, REDIRECT, verifier)


# -- the code exchange -------------------------------------------------------------------------------------------------


def test_code_exchange_with_pkce(gitlab: FakeGitLab, http: RequestsHttpClient, mona: FakeUser, clock: Clock) -> None:
    verifier = new_verifier()
    url = authorize_url(gitlab.base_url, gitlab.client_id, REDIRECT, "state-1", challenge(verifier))
    callback = gitlab.approve(url, mona)
    query = parse_qs(urlsplit(callback).query)
    assert callback.startswith(REDIRECT) and query["state"] == ["state-1"]
    tokens = exchange_code(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, query["code"][0],
                           REDIRECT, verifier)
    assert tokens.expires_at == clock.now + 7200  # GitLab's created_at + expires_in
    assert tokens.scope == "api"
    sent = gitlab.requests("POST", "/oauth/token")[-1]
    assert not sent.api and sent.query == {}  # the secret and the verifier travel in the body
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.body == {"grant_type": "authorization_code", "client_id": gitlab.client_id,
                         "client_secret": gitlab.client_secret, "code": query["code"][0], "redirect_uri": REDIRECT,
                         "code_verifier": verifier}
    assert GitLabApi(http, gitlab.base_url).current_user(tokens.access_token)["username"] == "mona"


def test_a_wrong_verifier_is_refused(gitlab: FakeGitLab, http: RequestsHttpClient, mona: FakeUser) -> None:
    verifier = new_verifier()
    url = authorize_url(gitlab.base_url, gitlab.client_id, REDIRECT, "s", challenge(verifier))
    code = parse_qs(urlsplit(gitlab.approve(url, mona)).query)["code"][0]
    with pytest.raises(RemoteAuthError, match="authorization grant is invalid") as refused:
        exchange_code(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, code, REDIRECT, new_verifier())
    assert refused.value.extra == {"error": "invalid_grant"}
    assert gitlab.requests("POST", "/oauth/token")[-1].status == 400


def test_used_codes_other_redirects_and_wrong_secrets_are_refused(gitlab: FakeGitLab, http: RequestsHttpClient,
                                                                  mona: FakeUser) -> None:
    verifier = new_verifier()
    code = gitlab.issue_code(mona, redirect_uri=REDIRECT, code_challenge=challenge(verifier))
    with pytest.raises(RemoteAuthError, match="Client authentication failed") as client:
        exchange_code(http, gitlab.base_url, gitlab.client_id, "wrong", code, REDIRECT, verifier)
    assert client.value.extra == {"error": "invalid_client"}
    with pytest.raises(RemoteAuthError, match="grant is invalid"):
        exchange_code(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, code,
                      "https://evil.example/callback", verifier)
    exchange_code(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, code, REDIRECT, verifier)
    with pytest.raises(RemoteAuthError, match="grant is invalid"):  # a code works once
        exchange_code(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, code, REDIRECT, verifier)


# -- refresh -----------------------------------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(gitlab: FakeGitLab, http: RequestsHttpClient, mona: FakeUser, clock: Clock) -> None:
    api = GitLabApi(http, gitlab.base_url)
    first = _linked(gitlab, http, mona)
    clock.now += 7000
    assert first.expires_within(300, clock.now) and not first.expires_within(100, clock.now)
    second = refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, first.refresh_token, REDIRECT)
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    assert second.expires_at == clock.now + 7200
    sent = gitlab.requests("POST", "/oauth/token")[-1].body
    assert sent == {"grant_type": "refresh_token", "client_id": gitlab.client_id,
                    "client_secret": gitlab.client_secret, "refresh_token": first.refresh_token,
                    "redirect_uri": REDIRECT}
    assert api.current_user(second.access_token)["username"] == "mona"
    with pytest.raises(RemoteAuthError, match="Token was revoked"):  # the old access token stopped at once
        api.current_user(first.access_token)
    with pytest.raises(RefreshRefusedError, match="linked again") as refused:  # and so did the old refresh token
        refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, first.refresh_token, REDIRECT)
    assert refused.value.extra == {"error": "invalid_grant"}
    third = refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, second.refresh_token, REDIRECT)
    assert api.current_user(third.access_token)["username"] == "mona"
    assert gitlab.refresh_calls == 3 and gitlab.refresh_successes == 2


def test_an_expired_access_token_is_refreshed(gitlab: FakeGitLab, http: RequestsHttpClient, mona: FakeUser,
                                              clock: Clock) -> None:
    api = GitLabApi(http, gitlab.base_url)
    tokens = _linked(gitlab, http, mona)
    clock.now += 7200
    with pytest.raises(RemoteAuthError, match="Token is expired"):
        api.current_user(tokens.access_token)
    renewed = refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, tokens.refresh_token, REDIRECT)
    assert api.current_user(renewed.access_token)["username"] == "mona"


def test_concurrent_refreshes_revoke_each_other(clock: Clock, http: RequestsHttpClient) -> None:
    """Why callers must serialize refreshes: two at once with the same refresh token, one wins, the other is
    refused, and the loser's caller would wrongly think the connection needs linking again."""
    with FakeGitLab(clock=clock, redirect_uris=[REDIRECT], refresh_delay=0.2) as gitlab:
        tokens = _linked(gitlab, http, gitlab.add_user("mona"))
        outcomes: list[str] = []

        def attempt() -> None:
            try:
                refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, tokens.refresh_token, REDIRECT)
                outcomes.append("refreshed")
            except RefreshRefusedError:
                outcomes.append("refused")

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refreshed", "refused"]
        assert gitlab.refresh_calls == 2 and gitlab.refresh_successes == 1


def test_refresh_with_wrong_client_credentials_is_not_a_refused_grant(gitlab: FakeGitLab, http: RequestsHttpClient,
                                                                      mona: FakeUser) -> None:
    tokens = _linked(gitlab, http, mona)
    with pytest.raises(RemoteAuthError, match="Client authentication failed") as refused:
        refresh(http, gitlab.base_url, gitlab.client_id, "rotated-secret", tokens.refresh_token, REDIRECT)
    assert not isinstance(refused.value, RefreshRefusedError)  # a configuration problem, not the connection's
    refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, tokens.refresh_token, REDIRECT)


def test_a_failing_token_endpoint_is_not_retried(gitlab: FakeGitLab, http: RequestsHttpClient,
                                                 mona: FakeUser) -> None:
    tokens = _linked(gitlab, http, mona)
    gitlab.fail_next("/oauth/token", 502)
    with pytest.raises(RemoteUnreachableError, match="502"):
        refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, tokens.refresh_token, REDIRECT)
    assert gitlab.refresh_calls == 0  # the fault answered before GitLab saw it: the pair is still good
    assert len(gitlab.requests("POST", "/oauth/token")) == 2  # the code exchange and one refresh: no blind resend
    refresh(http, gitlab.base_url, gitlab.client_id, gitlab.client_secret, tokens.refresh_token, REDIRECT)


def test_a_base_url_without_gitlab_oauth(gitlab: FakeGitLab, http: RequestsHttpClient) -> None:
    with pytest.raises(RemoteUnreachableError, match="no OAuth token endpoint"):
        refresh(http, gitlab.base_url + "/elsewhere", gitlab.client_id, gitlab.client_secret, "r", REDIRECT)


def test_ssrf_guard_applies_to_the_token_endpoint(gitlab: FakeGitLab) -> None:
    guarded = RequestsHttpClient(allow_loopback=False, timeout=5, sleep=lambda _: None)
    try:
        with pytest.raises(UnsafeUrlError):
            refresh(guarded, gitlab.base_url, gitlab.client_id, gitlab.client_secret, "r", REDIRECT)
    finally:
        guarded.close()
    assert gitlab.requests() == []
