"""RequestsHttpClient over real sockets: the SSRF guard, timeouts, bounded retries and rate limits."""

from __future__ import annotations

import email.utils
import logging
import socket
from collections.abc import Iterator

import pytest
import requests

from gitconnect.adapters.http import RequestsHttpClient, rate_limit_wait
from gitconnect.domain.errors import GitconnectError, RateLimitedError, RemoteUnreachableError, UnsafeUrlError
from tests.support.fake_github import FakeGitHub

SECRET = "ghs_canary0123456789abcdefghijklmnopqrst"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(fake.add_installation(), "octo-org/hello-world")
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[RequestsHttpClient]:
    http = RequestsHttpClient(allow_loopback=True, timeout=2, sleep=sleeps, clock=lambda: 1_700_000_000.0)
    yield http
    http.close()


def url(github: FakeGitHub, path: str = "/repos/octo-org/hello-world/branches") -> str:
    return github.api_url + path


def auth(github: FakeGitHub) -> dict[str, str]:
    return {"Authorization": f"Bearer {github.mint_installation_token(next(iter(github.installations)))}"}


def test_a_plain_call(github: FakeGitHub, client: RequestsHttpClient) -> None:
    response = client.request("GET", url(github), headers=auth(github), params={"per_page": 5})
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")  # names are lower-case
    assert response.json()[0]["name"] == "main"
    assert github.requests()[0].query == {"per_page": ["5"]}


# -- the SSRF guard ----------------------------------------------------------------------------------------------------


def test_loopback_is_refused_unless_allowed(github: FakeGitHub) -> None:
    strict = RequestsHttpClient(allow_loopback=False, timeout=2)
    with pytest.raises(UnsafeUrlError, match="loopback"):
        strict.request("GET", url(github))
    with pytest.raises(UnsafeUrlError, match="loopback"):
        strict.request("GET", url(github).replace("127.0.0.1", "localhost"))
    assert github.log == []  # nothing reached the server


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
    ],
)
def test_redirects_are_checked_like_first_requests(
    github: FakeGitHub, client: RequestsHttpClient, target: str, reason: str
) -> None:
    github.fail_next("/repos/", 302, {"Location": target})
    with pytest.raises(UnsafeUrlError, match=reason):
        client.request("GET", url(github))


def test_redirects_within_the_allowed_addresses_are_followed(github: FakeGitHub, client: RequestsHttpClient) -> None:
    github.fail_next("/moved", 301, {"Location": url(github)})
    assert client.request("GET", url(github, "/moved"), headers=auth(github)).status == 200


def test_proxies_from_the_environment_are_ignored(
    github: FakeGitHub, client: RequestsHttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert client.request("GET", url(github), headers=auth(github)).status == 200


def test_an_explicit_proxy_is_refused(github: FakeGitHub, client: RequestsHttpClient) -> None:
    client._session.proxies = {"http": "http://127.0.0.1:9"}
    with pytest.raises(UnsafeUrlError, match="proxy"):
        client.request("GET", url(github))


# -- transport failures and retries ------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_failures_are_retried_then_reported_briefly(sleeps: Sleeps, client: RequestsHttpClient) -> None:
    port = _closed_port()
    with pytest.raises(RemoteUnreachableError) as failed:
        client.request("POST", f"http://127.0.0.1:{port}/x", json_body={"a": 1})
    detail = failed.value.detail
    assert detail == "127.0.0.1 could not be reached: the connection failed"
    assert len(sleeps.calls) == 2  # nothing was sent, so even a POST is tried again (twice)


def test_timeouts_apply_to_every_call(github: FakeGitHub, sleeps: Sleeps) -> None:
    quick = RequestsHttpClient(allow_loopback=True, timeout=0.3, sleep=sleeps, retries=1)
    github.slow_next("/repos/", 1.0, times=2)
    with pytest.raises(RemoteUnreachableError, match="did not answer in time") as failed:
        quick.request("GET", url(github))
    assert "Pool" not in failed.value.detail and "0x" not in failed.value.detail
    assert len(sleeps.calls) == 1  # retried once (a GET), then gave up


@pytest.mark.parametrize("status", [502, 503, 504])
def test_idempotent_calls_are_retried_on_gateway_errors(
    github: FakeGitHub, client: RequestsHttpClient, sleeps: Sleeps, status: int
) -> None:
    github.fail_next("/repos/", status, times=2)
    assert client.request("GET", url(github), headers=auth(github)).status == 200
    assert len(github.requests()) == 3 and len(sleeps.calls) == 2


def test_retries_are_bounded(github: FakeGitHub, client: RequestsHttpClient) -> None:
    github.fail_next("/repos/", 503, times=5)
    assert client.request("GET", url(github)).status == 503
    assert len(github.requests()) == 3


def test_a_post_is_not_retried_after_the_server_saw_it(github: FakeGitHub, client: RequestsHttpClient) -> None:
    github.fail_next("/repos/", 502)
    assert client.request("POST", url(github, "/repos/octo-org/hello-world/statuses/abc"), json_body={}).status == 502
    assert len(github.requests()) == 1


def test_the_body_read_is_capped(github: FakeGitHub) -> None:
    small = RequestsHttpClient(allow_loopback=True, timeout=2, max_body=1000)
    github.fail_next("/big", 200, body={"data": "x" * 5000})
    with pytest.raises(RemoteUnreachableError, match="more than 1000 bytes"):
        small.request("GET", url(github, "/big"))


# -- rate limits -------------------------------------------------------------------------------------------------------


def test_secondary_limit_retry_after_is_honoured_once(
    github: FakeGitHub, client: RequestsHttpClient, sleeps: Sleeps
) -> None:
    github.fail_next("/repos/", 403, {"Retry-After": "3"})
    assert client.request("GET", url(github), headers=auth(github)).status == 200
    assert sleeps.calls == [3.0]
    assert len(github.requests()) == 2


def test_a_rate_limited_post_is_retried_too(github: FakeGitHub, client: RequestsHttpClient, sleeps: Sleeps) -> None:
    github.fail_next("/app/", 429, {"Retry-After": "1"})
    client.request("POST", url(github, "/app/installations/1/access_tokens"))
    assert sleeps.calls == [1.0] and len(github.requests()) == 2  # GitHub refused it unseen: safe to resend


def test_a_long_wait_raises_rate_limited(github: FakeGitHub, client: RequestsHttpClient, sleeps: Sleeps) -> None:
    github.fail_next("/repos/", 429, {"Retry-After": "30"})
    with pytest.raises(RateLimitedError) as limited:
        client.request("GET", url(github))
    assert limited.value.retry_after == 30.0
    assert limited.value.status == 503 and isinstance(limited.value, GitconnectError)
    assert limited.value.extra == {"retry_after": 30}
    assert sleeps.calls == [] and len(github.requests()) == 1


def test_primary_limit_waits_for_the_reset(github: FakeGitHub, client: RequestsHttpClient, sleeps: Sleeps) -> None:
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(1_700_000_000 + 4)}
    github.fail_next("/repos/", 403, reset, body={"message": "API rate limit exceeded for installation ID 1."})
    assert client.request("GET", url(github), headers=auth(github)).status == 200
    assert sleeps.calls == [4.0]
    github.fail_next("/repos/", 403, {**reset, "x-ratelimit-reset": str(1_700_000_000 + 1800)})
    with pytest.raises(RateLimitedError) as limited:
        client.request("GET", url(github))
    assert limited.value.retry_after == 1800.0


def test_secondary_limit_without_headers_waits_a_minute(github: FakeGitHub, client: RequestsHttpClient) -> None:
    github.fail_next("/repos/", 403)  # the fake's default body: "You have exceeded a secondary rate limit..."
    with pytest.raises(RateLimitedError) as limited:
        client.request("GET", url(github))
    assert limited.value.retry_after == 60.0


def test_still_limited_after_the_wait_raises(github: FakeGitHub, client: RequestsHttpClient, sleeps: Sleeps) -> None:
    github.fail_next("/repos/", 403, {"Retry-After": "2"}, times=2)
    with pytest.raises(RateLimitedError):
        client.request("GET", url(github))
    assert sleeps.calls == [2.0] and len(github.requests()) == 2


def test_a_plain_403_is_an_answer_not_a_rate_limit(github: FakeGitHub, client: RequestsHttpClient) -> None:
    github.fail_next("/repos/", 403, body={"message": "Resource not accessible by integration"})
    assert client.request("GET", url(github)).status == 403


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(1_700_000_000 + 7, usegmt=True)
    assert rate_limit_wait(429, {"retry-after": when}, b"", 1_700_000_000.0) == 7.0
    assert rate_limit_wait(200, {"retry-after": "5"}, b"", 0) is None


# -- secrets -----------------------------------------------------------------------------------------------------------


def test_headers_and_bodies_are_never_logged(
    github: FakeGitHub, client: RequestsHttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    github.fail_next("/repos/", 429, {"Retry-After": "1"})
    client.request("POST", url(github, "/repos/octo-org/hello-world/statuses/abc"),
                   headers={"Authorization": f"Bearer {SECRET}"}, json_body={"token": SECRET})
    client.request("POST", url(github, "/login/oauth/access_token"), form={"client_secret": SECRET})
    assert caplog.records, "the rate-limit wait is logged"
    assert SECRET not in caplog.text


def test_requests_library_errors_never_escape(client: RequestsHttpClient) -> None:
    with pytest.raises(GitconnectError):
        client.request("GET", "http://")
    with pytest.raises(GitconnectError):
        client.request("GET", "http://name-that-does-not-resolve.invalid/")
    assert not isinstance(RemoteUnreachableError("x"), requests.RequestException)
