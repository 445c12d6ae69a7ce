"""The GitHub App's installation tokens (cached, refreshed once, by one caller at a time) against the fake GitHub; the
App's JWT itself: tests/unit/test_github_app_jwt.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import GitconnectError, NotFoundError, RemoteAuthError
from gitconnect.providers.github.api import GitHubApi
from gitconnect.providers.github.app_auth import InstallationTokens
from tests.support.clock import Clock
from tests.support.fake_github import FakeGitHub, rsa_key_pair

ACCESS_TOKENS = "/app/installations/"


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time())


@pytest.fixture
def github(clock: Clock) -> Iterator[FakeGitHub]:
    with FakeGitHub(clock=clock) as fake:  # one clock for both sides: the App's JWT and GitHub's checks
        yield fake


@pytest.fixture
def tokens(github: FakeGitHub, http: RequestsHttpClient, clock: Clock) -> InstallationTokens:
    return InstallationTokens(http, github.api_url, github.app_id, rsa_key_pair()[0], clock)


def token_requests(github: FakeGitHub) -> int:
    return len([r for r in github.requests("POST", ACCESS_TOKENS) if r.path.endswith("/access_tokens")])


# -- installation tokens -------------------------------------------------------------------------------------------


def test_one_request_for_many_calls(github: FakeGitHub, tokens: InstallationTokens) -> None:
    inst = github.add_installation()
    first = tokens.token(inst)
    assert all(tokens.token(inst) == first for _ in range(10))
    assert tokens.token(str(inst)) == first
    assert token_requests(github) == 1
    sent = github.requests("POST")[0]
    assert sent.path == f"/app/installations/{inst}/access_tokens"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.headers["authorization"].startswith("Bearer ey")  # the App's JWT, which the fake verified


def test_tokens_are_refreshed_five_minutes_before_they_expire(
    github: FakeGitHub, tokens: InstallationTokens, clock: Clock, http: RequestsHttpClient
) -> None:
    inst = github.add_installation()
    start = clock.now
    first = tokens.token(inst)
    clock.now = start + 3600 - 301  # the token expires at start + 3600
    assert tokens.token(inst) == first
    clock.now = start + 3600 - 299
    second = tokens.token(inst)
    assert second != first
    assert token_requests(github) == 2
    github.add_repo(inst, "octo-org/app")
    clock.now = start + 3600 + 10  # the first token has expired by now; the new one works
    api = GitHubApi(http, github.api_url)
    assert api.branches(second, "octo-org", "app")
    with pytest.raises(RemoteAuthError, match="Bad credentials"):
        api.branches(first, "octo-org", "app")


def test_twenty_concurrent_callers_make_one_request(github: FakeGitHub, tokens: InstallationTokens) -> None:
    inst = github.add_installation()
    github.slow_next("/app/installations/", 0.3)  # a slow GitHub widens the window for a stampede
    barrier = threading.Barrier(20)
    results: list[str] = []
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            barrier.wait()
            results.append(tokens.token(inst))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert len(results) == 20 and len(set(results)) == 1
    assert token_requests(github) == 1


def test_one_slow_installation_does_not_hold_up_another(github: FakeGitHub, tokens: InstallationTokens) -> None:
    slow, fast = github.add_installation("slow-org"), github.add_installation("fast-org")
    github.slow_next(f"/app/installations/{slow}/", 1.5)
    worker = threading.Thread(target=tokens.token, args=(slow,))
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    tokens.token(fast)
    assert time.monotonic() - started < 1.0  # one lock per installation, not one for all
    worker.join(5)


def test_refusals_are_clear(github: FakeGitHub, tokens: InstallationTokens) -> None:
    with pytest.raises(NotFoundError, match="not found or the App was uninstalled"):
        tokens.token(987654)
    suspended = github.add_installation(suspended=True)
    with pytest.raises(RemoteAuthError, match="suspended"):
        tokens.token(suspended)


def test_a_jwt_github_refuses_names_the_settings(github: FakeGitHub, http: RequestsHttpClient, clock: Clock) -> None:
    inst = github.add_installation()
    wrong_app = InstallationTokens(http, github.api_url, "999", rsa_key_pair()[0], clock)
    with pytest.raises(RemoteAuthError, match="GITHUB_APP_ID"):
        wrong_app.token(inst)
    skewed = InstallationTokens(http, github.api_url, github.app_id, rsa_key_pair()[0], lambda: clock.now - 900)
    with pytest.raises(RemoteAuthError, match="'Expiration time' claim"):
        skewed.token(inst)  # our clock 15 minutes slow: the JWT has expired in GitHub's eyes


def test_failures_are_not_cached_and_invalidate_forgets(github: FakeGitHub, tokens: InstallationTokens) -> None:
    inst = github.add_installation()
    github.fail_next("/app/installations/", 500)  # a POST is not retried on a 5xx
    with pytest.raises(GitconnectError):
        tokens.token(inst)
    first = tokens.token(inst)
    tokens.invalidate(inst)
    assert tokens.token(inst) != first
    assert token_requests(github) == 3
