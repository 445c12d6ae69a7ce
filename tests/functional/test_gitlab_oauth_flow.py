"""GitLab OAuth through the real handlers: authorize with PKCE, callback, tokens sealed; an expiring access token is
refreshed once for 20 concurrent callers in two containers; a refused refresh marks the connection for re-link."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.functional.conftest import system_with
from tests.support.fake_gitlab import FakeGitLab
from tests.support.inprocess import System

TEAM = "oauth-team"
REDIRECT = "http://gitconnect.test/v1/oauth/gitlab/callback"
DASHBOARD = "https://dashboard.test/git"


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[System, FakeGitLab, list[float]]]:
    # GitLab's clock, behind ours by `skew[0]` seconds: tokens it issues look old (about to expire) to us
    skew = [0.0]
    with FakeGitLab(clock=lambda: time.time() - skew[0], refresh_delay=0.3) as fake:
        fake.add_app("gitconnect-app", "app-secret", [REDIRECT])
        env = {"GITLAB_URL": fake.base_url, "GITLAB_CLIENT_ID": "gitconnect-app",
               "GITLAB_CLIENT_SECRET": "app-secret", "GITCONNECT_DASHBOARD_URL": DASHBOARD}
        with system_with(env) as system:
            alice = fake.add_user("alice")
            group = fake.add_group("acme")
            fake.add_member(alice, group)
            fake.add_project(group, "app")
            yield system, fake, skew


def link(system: System, fake: FakeGitLab, body: dict[str, Any] | None = None) -> dict[str, list[str]]:
    token = system.token({TEAM: "admin"})
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections/gitlab/authorize", token=token, body=body or {})
    assert reply.status == 200, reply.body
    url = reply.json()["url"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [REDIRECT]
    back = urlsplit(fake.approve(url, fake.user("alice")))
    answer = system.call("GET", f"{back.path}?{back.query}")
    assert answer.status == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)


def test_oauth_link_and_one_refresh_for_concurrent_callers(lab: tuple[System, FakeGitLab, list[float]]) -> None:
    system, fake, skew = lab
    skew[0] = 7200 - 60  # the pair GitLab issues now expires in a minute, by our clock
    outcome = link(system, fake)
    assert outcome["outcome"] == ["linked"], outcome
    connection_id = outcome["connection_id"][0]
    skew[0] = 0.0
    from gitconnect import wiring
    from gitconnect.services.secrets import ConnectionSecrets
    from gitconnect.services.token_refresh import TokenRefresher

    connection = wiring.stores().connections.get(TEAM, connection_id)
    # Two containers (own caches, own in-process locks), ten callers each, all at once
    containers = []
    for _ in range(2):
        secrets = ConnectionSecrets(wiring.secrets()._cipher)
        secrets.refresher = TokenRefresher(wiring.stores().connections, wiring.stores().leases, secrets,
                                           wiring.provider)
        containers.append(secrets)
    tokens: list[str] = []
    barrier = threading.Barrier(20)

    def call(secrets: ConnectionSecrets) -> None:
        barrier.wait()
        tokens.append(str(secrets.access(connection).credentials["token"]))  # type: ignore[index]

    threads = [threading.Thread(target=call, args=(containers[i % 2],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.refresh_calls == 1 and fake.refresh_successes == 1
    assert len(tokens) == 20 and len(set(tokens)) == 1
    # The refreshed pair works: the connection lists projects
    repos = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}/repositories",
                        token=system.token({TEAM: "member"}))
    assert [r["full_name"] for r in repos.json()["items"]] == ["acme/app"]


def test_refused_refresh_marks_the_connection(lab: tuple[System, FakeGitLab, list[float]]) -> None:
    system, fake, skew = lab
    skew[0] = 7200 - 60
    connection_id = link(system, fake)["connection_id"][0]
    skew[0] = 0.0
    from gitconnect import wiring

    credentials = wiring.secrets().open(wiring.stores().connections.get(TEAM, connection_id))
    fake.revoke(credentials["refresh_token"])  # type: ignore[index]
    reply = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}/repositories",
                        token=system.token({TEAM: "member"}))
    assert reply.status == 422
    assert "linked again" in reply.json()["detail"]
    member = system.token({TEAM: "member"})
    assert system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}", token=member).json()["status"] == (
        "needs_relink")
    again = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}/branches?repository=acme/app",
                        token=member)
    assert again.status == 422 and "link it again" in again.json()["detail"]


def test_refused_links(lab: tuple[System, FakeGitLab, list[float]]) -> None:
    system, _, _ = lab
    token = system.token({TEAM: "admin"})
    selfhosted = system.call("POST", f"/v1/teams/{TEAM}/connections/gitlab/authorize", token=token,
                             body={"base_url": "https://gitlab.internal.example"})
    assert selfhosted.status == 400 and "client_id" in selfhosted.json()["detail"]
    private = system.call("POST", f"/v1/teams/{TEAM}/connections/gitlab/authorize", token=token,
                          body={"base_url": "http://10.0.0.8", "client_id": "a", "client_secret": "b"})
    assert private.status == 400
    forged = system.call("GET", "/v1/oauth/gitlab/callback?code=x&state=forged")
    assert parse_qs(urlsplit(forged.headers["location"]).query)["outcome"] == ["error"]
