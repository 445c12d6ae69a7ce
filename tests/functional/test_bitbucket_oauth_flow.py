"""Bitbucket OAuth through the real handlers: authorize, callback, the pair sealed; Bitbucket's refresh tokens rotate
on every use, so an expiring access token is refreshed once for 20 concurrent callers in two containers; a refused
refresh marks the connection for re-link."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.functional.conftest import system_with
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.inprocess import System

TEAM = "bb-oauth"
DASHBOARD = "https://dashboard.test/git"


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[System, FakeBitbucket]]:
    with FakeBitbucket(refresh_delay=0.3) as fake:
        env = {"BITBUCKET_API_URL": fake.api_url, "BITBUCKET_WEB_URL": fake.web_url,
               "BITBUCKET_CLIENT_ID": fake.client_id, "BITBUCKET_CLIENT_SECRET": fake.client_secret,
               "GITCONNECT_DASHBOARD_URL": DASHBOARD}
        with system_with(env) as system:
            alice = fake.add_user("alice", email="alice@example.com")
            acme = fake.add_workspace("acme", members=[alice])
            fake.add_repo(acme, "app")
            yield system, fake


def link(system: System, fake: FakeBitbucket) -> dict[str, list[str]]:
    token = system.token({TEAM: "admin"})
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections/bitbucket/authorize", token=token)
    assert reply.status == 200, reply.body
    url = urlsplit(reply.json()["url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake.web_url}/site/oauth2/authorize"
    assert query["client_id"] == [fake.client_id] and query["response_type"] == ["code"]
    # The user approves on Bitbucket, which redirects to the consumer's callback URL with a code and the state
    code = fake.issue_code(fake.users_by_nickname("alice"))
    answer = system.call("GET", f"/v1/oauth/bitbucket/callback?code={code}&state={query['state'][0]}")
    assert answer.status == 302 and answer.headers["location"].startswith(DASHBOARD)
    return parse_qs(urlsplit(answer.headers["location"]).query)


def test_oauth_link_and_one_refresh_for_concurrent_callers(lab: tuple[System, FakeBitbucket]) -> None:
    system, fake = lab
    fake.token_lifetime = 60.0  # the pair issued at the link expires in a minute: inside our refresh margin
    outcome = link(system, fake)
    assert outcome["outcome"] == ["linked"], outcome
    connection_id = outcome["connection_id"][0]
    fake.token_lifetime = 7200.0
    from gitconnect import wiring
    from gitconnect.services.secrets import ConnectionSecrets
    from gitconnect.services.token_refresh import TokenRefresher

    connection = wiring.stores().connections.get(TEAM, connection_id)
    assert connection is not None and connection.account == "alice" and connection.provider == "bitbucket"
    containers = []
    for _ in range(2):  # two containers: own caches, own in-process locks
        secrets = ConnectionSecrets(wiring.secrets()._cipher)
        tables = wiring.stores()
        secrets.refresher = TokenRefresher(tables.connections, tables.leases, secrets, wiring.provider)
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
    member = system.token({TEAM: "member"})
    repos = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}/repositories", token=member)
    assert [r["full_name"] for r in repos.json()["items"]] == ["acme/app"]
    namespaces = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}/namespaces", token=member)
    assert namespaces.json()["items"] == [{"name": "acme", "allowed": True}]


def test_refused_refresh_marks_the_connection(lab: tuple[System, FakeBitbucket]) -> None:
    system, fake = lab
    fake.token_lifetime = 60.0
    connection_id = link(system, fake)["connection_id"][0]
    fake.token_lifetime = 7200.0
    from gitconnect import wiring

    credentials = wiring.secrets().open(wiring.stores().connections.get(TEAM, connection_id))
    fake.revoke(credentials["refresh_token"])  # type: ignore[index]
    member = system.token({TEAM: "member"})
    reply = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}/repositories", token=member)
    assert reply.status == 422 and "linked again" in reply.json()["detail"]
    assert system.call("GET", f"/v1/teams/{TEAM}/connections/{connection_id}", token=member).json()["status"] == (
        "needs_relink")


def test_refused_links(lab: tuple[System, FakeBitbucket]) -> None:
    system, _ = lab
    token = system.token({TEAM: "admin"})
    with_body = system.call("POST", f"/v1/teams/{TEAM}/connections/bitbucket/authorize", token=token,
                            body={"base_url": "https://bitbucket.example"})
    assert with_body.status == 400
    forged = system.call("GET", "/v1/oauth/bitbucket/callback?code=x&state=forged")
    assert parse_qs(urlsplit(forged.headers["location"]).query)["outcome"] == ["error"]
    # A state of another provider's flow is refused here
    gitlab_state = system.call("POST", f"/v1/teams/{TEAM}/connections/gitlab/authorize", token=token, body={})
    assert gitlab_state.status == 422  # GitLab OAuth is not configured in this deployment
    # The user declines on Bitbucket: the dashboard hears why, nothing is stored
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections/bitbucket/authorize", token=token)
    state = parse_qs(urlsplit(reply.json()["url"]).query)["state"][0]
    before = system.call("GET", f"/v1/teams/{TEAM}/connections", token=token).json()["items"]
    declined = system.call("GET", f"/v1/oauth/bitbucket/callback?error=access_denied&state={state}")
    outcome = parse_qs(urlsplit(declined.headers["location"]).query)
    assert outcome["outcome"] == ["error"] and "access_denied" in outcome["reason"][0]
    assert system.call("GET", f"/v1/teams/{TEAM}/connections", token=token).json()["items"] == before
    # A used code is refused by Bitbucket
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections/bitbucket/authorize", token=token)
    state = parse_qs(urlsplit(reply.json()["url"]).query)["state"][0]
    used = system.call("GET", f"/v1/oauth/bitbucket/callback?code=used-or-made-up&state={state}")
    assert parse_qs(urlsplit(used.headers["location"]).query)["outcome"] == ["error"]
