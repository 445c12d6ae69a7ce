"""A GitHub App installation's whole life, over HTTP through the real handlers: installed on selected repositories,
repositories revoked and granted again (signed `installation_repositories` deliveries through intake and router),
the user's update redirects (with and without our `state`, with and without `code`), suspended, uninstalled, and
installed again, which moves the team's sources to the new connection. Manual builds refuse what cannot build.
GitHub is the faithful fake (tests/support/fake_github.py); payloads are octokit's real examples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.functional.github_support import DASHBOARD, deliver, example, github_system, readdress
from tests.support.fake_github import FakeGitHub, FakeRepo, fake_sha
from tests.support.inprocess import System

TEAM = "life-team"
OTHER = "other-team"
CALLBACK = "/v1/oauth/github/callback"


@pytest.fixture(scope="module")
def gh() -> Iterator[tuple[System, FakeGitHub]]:
    with github_system() as pair:
        yield pair


@pytest.fixture(scope="module")
def admin(gh: tuple[System, FakeGitHub]) -> str:
    return gh[0].token({TEAM: "admin", OTHER: "admin"}, sub="octocat")


def start(system: System, token: str, team: str = TEAM) -> str:
    """POST …/authorize: the `state` GitHub's install page will hand back."""
    reply = system.call("POST", f"/v1/teams/{team}/connections/github/authorize", token=token)
    assert reply.status == 200, reply.body
    return parse_qs(urlsplit(reply.json()["url"]).query)["state"][0]


def back(system: System, url: str) -> dict[str, str]:
    """The browser follows GitHub's redirect to the callback: the dashboard redirect's query."""
    reply = system.call("GET", url)
    assert reply.status == 302, reply.body
    location = reply.headers["location"]
    assert location.startswith(DASHBOARD + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def installed(system: System, fake: FakeGitHub, token: str, installation: int, *, team: str = TEAM,
              action: str = "install") -> dict[str, str]:
    """The user installs (or updates) the App from our authorize URL, with user authorization on."""
    state = start(system, token, team)
    code = fake.issue_code(fake.add_user("octocat", [installation]))
    return back(system, fake.setup_redirect(CALLBACK, installation, action, state=state, code=code))


def connection(system: System, token: str, connection_id: str, team: str = TEAM) -> dict[str, Any]:
    reply = system.call("GET", f"/v1/teams/{team}/connections/{connection_id}", token=token)
    assert reply.status == 200, reply.body
    return reply.json()


def source(system: System, token: str, source_id: str) -> dict[str, Any]:
    reply = system.call("GET", f"/v1/teams/{TEAM}/sources/{source_id}", token=token)
    assert reply.status == 200, reply.body
    return reply.json()


def repositories_changed(installation: int, action: str, repos: list[FakeRepo], selection: str) -> dict[str, Any]:
    """GitHub's `installation_repositories` delivery (octokit's real example) naming our repositories."""
    payload = example("installation_repositories", action=action)
    payload["installation"] = {**payload["installation"], "id": installation}
    listed = [{"id": r.id, "node_id": "x", "name": r.name, "full_name": r.full_name, "private": True} for r in repos]
    payload["repositories_added"] = listed if action == "added" else []
    payload["repositories_removed"] = listed if action == "removed" else []
    payload["repository_selection"] = selection
    return payload


def installation_event(installation: int, action: str) -> dict[str, Any]:
    payload = example("installation", action=action)
    payload["installation"] = {**payload["installation"], "id": installation}
    return payload


def push(installation: int, repo: FakeRepo, before: str, after: str) -> dict[str, Any]:
    payload = readdress(example("push", where=lambda p: p["ref"].startswith("refs/heads/") and p["commits"]),
                        installation, repo)
    payload.update({"ref": "refs/heads/main", "before": before, "after": after, "created": False, "deleted": False})
    payload["head_commit"] = {**(payload.get("head_commit") or {}), "id": after, "message": "change"}
    payload["commits"] = [{**payload["commits"][0], "id": after, "message": "change"}]
    return payload


def routed(system: System) -> list[dict[str, Any]]:
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    return [e["detail"] for e in system.bus_events()]


def reason(system: System, token: str, delivery_id: str) -> str:
    items = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=token).json()["items"]
    return str(next(d["reason"] for d in items if d["id"] == delivery_id))


def build(system: System, token: str, source_id: str, body: Any = None) -> Any:
    return system.call("POST", f"/v1/teams/{TEAM}/sources/{source_id}/builds", token=token, body=body)


@pytest.fixture(scope="module")
def world(gh: tuple[System, FakeGitHub], admin: str) -> dict[str, Any]:
    """acme installed the App on two of its three repositories; the team watches both."""
    system, fake = gh
    installation = fake.add_installation("acme")
    api = fake.add_repo(installation, "acme/api", branches={"main": fake_sha("api-1"), "dev": fake_sha("api-d")})
    web = fake.add_repo(installation, "acme/web", branches={"trunk": fake_sha("web-1")}, default_branch="trunk")
    fake.add_repo(installation, "acme/private-notes")
    fake.select_repositories(installation, ["acme/api", "acme/web"])
    outcome = installed(system, fake, admin, installation)
    assert outcome["outcome"] == "linked", outcome
    ids = {}
    for name, branches in (("acme/api", ["main"]), ("acme/web", ["trunk"])):
        reply = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
            "connection_id": outcome["connection_id"], "repository": name, "branches": branches})
        assert reply.status == 201, reply.body
        ids[name] = reply.json()["id"]
    return {"installation": installation, "api": api, "web": web, "connection_id": outcome["connection_id"],
            "sources": ids}


def test_install_stores_the_selection_and_the_granted_repositories(gh: tuple[System, FakeGitHub], admin: str,
                                                                   world: dict[str, Any]) -> None:
    system, _ = gh
    shown = connection(system, admin, world["connection_id"])
    assert shown["repository_selection"] == "selected"
    assert shown["repositories"] == ["acme/api", "acme/web"] and shown["repositories_truncated"] is False
    assert shown["installation_id"] == str(world["installation"]) and shown["status"] == "active"
    assert not {"secret", "token", "credentials"} & set(shown)
    assert source(system, admin, world["sources"]["acme/api"])["status"] == "active"


def test_revoked_repositories_build_nothing_until_granted_again(gh: tuple[System, FakeGitHub], admin: str,
                                                                world: dict[str, Any]) -> None:
    system, fake = gh
    installation, api = world["installation"], world["api"]
    api_source = world["sources"]["acme/api"]
    # The user removes acme/api from the installation on GitHub; GitHub says so with a signed delivery
    fake.revoke_repository(installation, "acme/api")
    removed = repositories_changed(installation, "removed", [api], "selected")
    assert deliver(system, "installation_repositories", removed, delivery_id="repos-removed").status == 202
    routed(system)
    assert source(system, admin, api_source)["status"] == "access_revoked"
    assert source(system, admin, world["sources"]["acme/web"])["status"] == "active"
    assert connection(system, admin, world["connection_id"])["repositories"] == ["acme/web"]
    assert "acme/api" in reason(system, admin, "repos-removed")
    # A push there (GitHub would not send one, a delayed one may arrive) builds nothing, and the log says why
    deliver(system, "push", push(installation, api, fake_sha("api-1"), fake_sha("api-2")), delivery_id="revoked-push")
    assert routed(system) == []
    assert "access to acme/api was revoked from the GitHub App" in reason(system, admin, "revoked-push")
    # A manual build is a 409 that says why, and nothing is queued
    refused = build(system, admin, api_source, {"branch": "main"})
    assert refused.status == 409 and refused.headers["content-type"] == "application/problem+json"
    assert "access to acme/api was revoked" in refused.json()["detail"]
    assert routed(system) == []
    # Granted again: the source is active and builds
    fake.grant_repository(installation, "acme/api")
    added = repositories_changed(installation, "added", [api], "selected")
    deliver(system, "installation_repositories", added, delivery_id="repos-added")
    routed(system)
    assert source(system, admin, api_source)["status"] == "active"
    assert connection(system, admin, world["connection_id"])["repositories"] == ["acme/api", "acme/web"]
    assert build(system, admin, api_source, {"branch": "main"}).status == 202
    assert [e["sha"] for e in routed(system)] == [fake_sha("api-1")]


def test_github_initiated_update_refreshes_without_linking(gh: tuple[System, FakeGitHub], admin: str,
                                                           world: dict[str, Any]) -> None:
    """"Redirect on update": GitHub sends the browser back without our state (and without a code)."""
    system, fake = gh
    installation = world["installation"]
    fake.revoke_repository(installation, "acme/web")  # no webhook this time: the redirect alone refreshes
    start_at = len(fake.log)
    outcome = back(system, fake.setup_redirect(CALLBACK, installation, "update"))
    calls = [(r.method, r.path) for r in fake.log[start_at:] if not r.path.endswith("/access_tokens")]
    # One read of the installation as the App, one page of its (selected) repositories: nothing else
    assert calls == [("GET", f"/app/installations/{installation}"), ("GET", "/installation/repositories")]
    assert outcome == {"provider": "github", "outcome": "updated", "installation_id": str(installation)}
    assert connection(system, admin, world["connection_id"])["repositories"] == ["acme/api"]
    assert source(system, admin, world["sources"]["acme/web"])["status"] == "access_revoked"
    # Everything stored came from GitHub's own answer, read as the App
    reads = fake.requests("GET", f"/app/installations/{installation}")
    assert reads and all(r.headers["authorization"].startswith("Bearer ey") for r in reads)
    # An installation no team linked: an error outcome, and GitHub is not even asked
    stranger = fake.add_installation("stranger")
    before = len(fake.log)
    refused = back(system, fake.setup_redirect(CALLBACK, stranger, "update"))
    assert refused["outcome"] == "error" and "no team has linked" in refused["reason"]
    assert len(fake.log) == before
    assert len(system.call("GET", f"/v1/teams/{TEAM}/connections", token=admin).json()["items"]) == 1
    # A broken one is an error outcome too, never a 5xx
    assert back(system, f"{CALLBACK}?setup_action=update&installation_id=12%3B")["outcome"] == "error"
    fake.grant_repository(installation, "acme/web")
    back(system, fake.setup_redirect(CALLBACK, installation, "update"))
    assert source(system, admin, world["sources"]["acme/web"])["status"] == "active"


def test_update_with_our_state(gh: tuple[System, FakeGitHub], admin: str, world: dict[str, Any]) -> None:
    system, fake = gh
    installation = world["installation"]
    # The team has it: refreshed, with or without a code
    state = start(system, admin)
    outcome = back(system, fake.setup_redirect(CALLBACK, installation, "update", state=state))
    assert outcome["outcome"] == "updated" and outcome["connection_id"] == world["connection_id"]
    assert installed(system, fake, admin, installation, action="update")["outcome"] == "updated"
    # Another team without it and without a code: nothing linked, and the reason says why
    state = start(system, admin, OTHER)
    refused = back(system, fake.setup_redirect(CALLBACK, installation, "update", state=state))
    assert refused["outcome"] == "error" and "no authorization code" in refused["reason"]
    assert "cannot be verified" in refused["reason"]
    assert system.call("GET", f"/v1/teams/{OTHER}/connections", token=admin).json()["items"] == []
    # With a code it is linked like an install (the user's token shows the installation)
    linked = installed(system, fake, admin, installation, team=OTHER, action="update")
    assert linked["outcome"] == "linked"
    other = connection(system, admin, linked["connection_id"], OTHER)
    assert other["repositories"] == ["acme/api", "acme/web"]
    # A spoofed installation (the user cannot access it) is refused even with our state and a code
    foreign = fake.add_installation("victim")
    state = start(system, admin, OTHER)
    code = fake.issue_code(fake.add_user("octocat", [installation]))
    spoofed = back(system, fake.setup_redirect(CALLBACK, foreign, "update", state=state, code=code))
    assert spoofed["outcome"] == "error" and "not accessible" in spoofed["reason"]
    assert system.call("DELETE", f"/v1/teams/{OTHER}/connections/{linked['connection_id']}", token=admin).status == 204


def test_manual_builds_check_the_sha_and_build_the_default_branch(gh: tuple[System, FakeGitHub], admin: str,
                                                                  world: dict[str, Any]) -> None:
    system, fake = gh
    api_source, web_source = world["sources"]["acme/api"], world["sources"]["acme/web"]
    for bad in ("0" * 40, "0000000", "abc", "g" * 40, "a" * 41):
        reply = build(system, admin, api_source, {"sha": bad})
        assert reply.status == 400, (bad, reply.body)
        assert reply.headers["content-type"] == "application/problem+json"
    unknown = build(system, admin, api_source, {"sha": fake_sha("never-pushed")})
    assert unknown.status == 422 and "is not a commit of acme/api" in unknown.json()["detail"]
    assert routed(system) == []
    # A short sha builds the full one GitHub names
    full = fake.add_commit("acme/api", fake_sha("api-feature"))
    short = build(system, admin, api_source, {"sha": full[:10].upper()})
    assert short.status == 202 and short.json()["sha"] == full
    # No body, or {}: the head of the default branch (main here; trunk for acme/web)
    assert build(system, admin, api_source).json()["ref"] == "refs/heads/main"
    assert build(system, admin, api_source, {}).json()["sha"] == fake_sha("api-1")
    assert build(system, admin, web_source).json()["ref"] == "refs/heads/trunk"
    assert [e["sha"] for e in routed(system)] == [full, fake_sha("api-1"), fake_sha("api-1"), fake_sha("web-1")]
    # A source that watches neither the default branch nor exactly one literal branch must be told which
    picky = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "name": "picky", "connection_id": world["connection_id"], "repository": "acme/api",
        "branches": ["dev", "release/*", "hotfix"]}).json()
    refused = build(system, admin, picky["id"])
    assert refused.status == 422 and "name the `branch`" in refused.json()["detail"]
    assert "'main'" in refused.json()["detail"]
    globbed = system.call("PATCH", f"/v1/teams/{TEAM}/sources/{picky['id']}", token=admin,
                          body={"branches": ["ma*", "dev"]})
    assert globbed.status == 200
    assert build(system, admin, picky["id"]).json()["ref"] == "refs/heads/main"
    single = system.call("PATCH", f"/v1/teams/{TEAM}/sources/{picky['id']}", token=admin, body={"branches": ["dev"]})
    assert single.status == 200
    assert build(system, admin, picky["id"]).json()["sha"] == fake_sha("api-d")
    routed(system)
    system.call("DELETE", f"/v1/teams/{TEAM}/sources/{picky['id']}", token=admin)


# Runs last: it suspends, uninstalls and reinstalls the App.
def test_suspend_uninstall_and_reinstall_moves_the_sources(gh: tuple[System, FakeGitHub], admin: str,
                                                           world: dict[str, Any]) -> None:
    system, fake = gh
    installation, api_source = world["installation"], world["sources"]["acme/api"]
    old_id = world["connection_id"]
    fake.set_suspended(installation, True)
    deliver(system, "installation", installation_event(installation, "suspend"))
    routed(system)
    assert connection(system, admin, old_id)["status"] == "suspended"
    refused = build(system, admin, api_source, {"branch": "main"})
    assert refused.status == 409 and "suspended" in refused.json()["detail"]
    # A refresh while suspended reads the status from GitHub and keeps the granted list (no token to list it)
    assert back(system, fake.setup_redirect(CALLBACK, installation, "update"))["outcome"] == "updated"
    shown = connection(system, admin, old_id)
    assert shown["status"] == "suspended" and shown["repositories"] == ["acme/api", "acme/web"]
    fake.set_suspended(installation, False)
    deliver(system, "installation", installation_event(installation, "unsuspend"))
    routed(system)
    # Uninstalled: nothing builds, and the 409 says so
    repo_ids = fake.uninstall(installation)
    deliver(system, "installation", installation_event(installation, "deleted"))
    routed(system)
    assert connection(system, admin, old_id)["status"] == "uninstalled"
    refused = build(system, admin, api_source)
    assert refused.status == 409 and "uninstalled" in refused.json()["detail"]
    # Installed again on acme: a new installation id, a new connection that takes the team's sources
    reinstalled = fake.reinstall("acme", repo_ids)
    fake.select_repositories(reinstalled, ["acme/api"])
    outcome = installed(system, fake, admin, reinstalled)
    assert outcome["outcome"] == "linked" and outcome["connection_id"] != old_id
    new_id = outcome["connection_id"]
    moved = {name: source(system, admin, sid) for name, sid in world["sources"].items()}
    assert {s["connection_id"] for s in moved.values()} == {new_id}
    assert (moved["acme/api"]["status"], moved["acme/web"]["status"]) == ("active", "access_revoked")
    assert connection(system, admin, old_id)["status"] == "uninstalled"
    everything = system.call("GET", f"/v1/teams/{TEAM}/sources", token=admin).json()["items"]
    assert [s["id"] for s in everything if s["connection_id"] == old_id] == []
    # Deliveries for the new installation build the moved source
    after = fake.add_commit("acme/api", fake_sha("api-3"))
    deliver(system, "push", push(reinstalled, world["api"], fake_sha("api-1"), after))
    assert [(e["source_id"], e["sha"]) for e in routed(system)] == [(api_source, after)]
