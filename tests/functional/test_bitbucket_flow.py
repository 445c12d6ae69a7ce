"""Bitbucket Cloud through the real handlers: link by API token or access token, workspaces and restrictions,
repositories and branches, a source registers its repository webhook, signed `repo:push` and pull request deliveries
become builds (several changes in one push, path rules through the diffstat API, short hashes resolved), build
statuses back, duplicates, regenerate, repair, unlink. Bitbucket is the faithful fake (tests/support/fake_bitbucket.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitconnect import wiring
from gitconnect.domain.models import Restrictions
from gitconnect.providers.bitbucket.webhooks import signature
from tests.functional.conftest import system_with
from tests.support.bitbucket_fixtures import payload
from tests.support.fake_bitbucket import FakeBitbucket, FakeRepo
from tests.support.fake_gitlab import fake_sha
from tests.support.inprocess import System

TEAM = "bb-team"


@pytest.fixture(scope="module")
def bb() -> Iterator[tuple[System, FakeBitbucket, dict[str, Any]]]:
    with FakeBitbucket() as fake:
        env = {"BITBUCKET_API_URL": fake.api_url, "BITBUCKET_WEB_URL": fake.web_url}
        with system_with(env) as system:

            def deliver(hook: Any, headers: dict[str, str], body: Any) -> int:
                """Bitbucket calls the hook URL: here, straight into the in-process API, with the signed bytes."""
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                return system.call("POST", urlsplit(hook.url).path, raw_body=raw,
                                   headers={k.lower(): v for k, v in headers.items()}).status

            fake.deliver = deliver
            alice = fake.add_user("alice", email="alice@example.com")
            acme = fake.add_workspace("acme", members=[alice])
            fake.add_workspace("other", members=[alice])
            app = fake.add_repo(acme, "app", branches={"main": fake_sha("main-1")})
            fake.add_repo(acme, "docs")
            yield system, fake, {"alice": alice, "acme": acme, "app": app}


@pytest.fixture(scope="module")
def admin(bb: tuple[System, FakeBitbucket, dict[str, Any]]) -> str:
    return bb[0].token({TEAM: "admin"})


@pytest.fixture(scope="module")
def linked(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str) -> dict[str, Any]:
    system, fake, world = bb
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body={
        "provider": "bitbucket", "workspace": "acme", "username": "alice@example.com",
        "api_token": fake.api_token(world["alice"])})
    assert reply.status == 201, reply.body
    connection = reply.json()
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": connection["id"], "repository": "acme/app", "branches": ["main", "release/*"],
        "tags": ["v*"], "pull_requests": {"enabled": True}})
    assert source.status == 201, source.body
    return {"connection": connection, "source": source.json()}


def routed(system: System) -> list[dict[str, Any]]:
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    return [e["detail"] for e in system.bus_events()]


def delivery_log(system: System, admin: str) -> list[dict[str, Any]]:
    """Every entry of the team's delivery log, all pages."""
    items, cursor = [], ""
    while True:
        page = system.call("GET", f"/v1/teams/{TEAM}/deliveries?limit=100{cursor}", token=admin).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = f"&cursor={page['next_cursor']}"


def deliveries(system: System, admin: str) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in delivery_log(system, admin)}


def the_hook(repo: FakeRepo) -> Any:
    (hook,) = repo.hooks.values()
    return hook


def test_link_by_api_token_is_verified(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                       linked: dict[str, Any]) -> None:
    system, fake, world = bb
    connection = linked["connection"]
    assert (connection["provider"], connection["account"], connection["base_url"]) == ("bitbucket", "alice",
                                                                                       fake.web_url)
    assert fake.api_token(world["alice"]) not in json.dumps(connection)
    body = {"provider": "bitbucket", "workspace": "acme", "username": "alice@example.com", "api_token": "wrong"}
    refused = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body=body)
    assert refused.status == 422 and refused.headers["content-type"] == "application/problem+json"
    body = {**body, "workspace": "nowhere", "api_token": fake.api_token(world["alice"])}
    unknown = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body=body)
    assert unknown.status == 422 and "nowhere" in unknown.json()["detail"]
    items = system.call("GET", f"/v1/teams/{TEAM}/connections", token=admin).json()["items"]
    assert [c["id"] for c in items] == [connection["id"]]


def test_link_by_access_token(bb: tuple[System, FakeBitbucket, dict[str, Any]]) -> None:
    system, fake, world = bb
    team = "bb-access"
    admin = system.token({team: "admin"})
    token = fake.access_token(world["acme"])
    unnamed = system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                          body={"provider": "bitbucket", "access_token": token})
    assert unnamed.status == 400 and "workspace" in unnamed.json()["detail"]
    reply = system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                        body={"provider": "bitbucket", "access_token": token, "workspace": "acme"})
    assert reply.status == 201, reply.body
    connection_id = reply.json()["id"]
    base = f"/v1/teams/{team}/connections/{connection_id}"
    assert system.call("GET", f"{base}/namespaces", token=admin).json()["items"] == [{"name": "acme",
                                                                                       "allowed": True}]
    repos = system.call("GET", f"{base}/repositories", token=admin).json()["items"]
    assert [r["full_name"] for r in repos] == ["acme/app", "acme/docs"]
    elsewhere = system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                            body={"provider": "bitbucket", "access_token": token, "workspace": "other"})
    assert elsewhere.status == 422
    assert system.call("DELETE", base, token=admin).status == 204


def test_repositories_namespaces_branches_and_restrictions(bb: tuple[System, FakeBitbucket, dict[str, Any]],
                                                           admin: str, linked: dict[str, Any]) -> None:
    system, fake, _ = bb
    base = f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}"
    repos = system.call("GET", f"{base}/repositories", token=admin).json()["items"]
    assert [r["full_name"] for r in repos] == ["acme/app", "acme/docs"]
    app = repos[0]
    assert app["id"].startswith("{") and app["namespace"] == "acme" and app["default_branch"] == "main"
    assert app["clone_url"] == f"{fake.web_url}/acme/app.git"  # Bitbucket's https clone link, without the user
    assert [r["full_name"] for r in system.call("GET", f"{base}/repositories?search=doc",
                                                token=admin).json()["items"]] == ["acme/docs"]
    assert system.call("GET", f"{base}/namespaces", token=admin).json()["items"] == [{"name": "acme",
                                                                                       "allowed": True}]
    branches = system.call("GET", f"{base}/branches?repository=acme/app", token=admin).json()["items"]
    assert branches == [{"name": "main", "sha": fake_sha("main-1")}]
    # The connection is linked to the acme workspace: it cannot be restricted to another (alice's `other`)
    refused = system.call("PUT", f"{base}/restrictions", token=admin,
                          body={"mode": "restricted", "namespaces": ["other"]})
    assert refused.status == 422 and refused.json()["unreachable"] == ["other"]
    assert system.call("GET", base, token=admin).json()["restrictions"]["mode"] == "unrestricted"
    restrict_elsewhere(linked["connection"]["id"], "other")  # as if set while it reached `other`
    try:
        assert system.call("GET", f"{base}/repositories", token=admin).json()["items"] == []
        assert system.call("GET", f"{base}/branches?repository=acme/app", token=admin).status == 403
        new_source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
            "connection_id": linked["connection"]["id"], "repository": "acme/docs", "branches": ["main"]})
        assert new_source.status == 403
    finally:
        system.call("PUT", f"{base}/restrictions", token=admin, body={"mode": "unrestricted"})


def restrict_elsewhere(connection_id: str, namespace: str) -> None:
    """A restriction to a namespace the connection no longer reaches (stored as an earlier PUT would have)."""
    wiring.stores().connections.set_restrictions(TEAM, connection_id, Restrictions("restricted", (namespace,)))


def test_source_hook_push_build_status(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                       linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    hook = the_hook(app)
    assert urlsplit(hook.url).path.startswith("/v1/webhooks/bitbucket/hook_")
    assert hook.secret and set(hook.events) >= {"repo:push", "pullrequest:created", "pullrequest:updated"}
    after = fake_sha("main-2")
    fake.add_commit(app, after, message="change\n", parents=[fake_sha("main-1")])
    fake.set_branch(app, "main", after)
    statuses = fake.send_push(app, [{"branch": "main", "old": fake_sha("main-1"), "new": after}])
    assert [status for _, status in statuses] == [202]
    events = routed(system)
    assert [(e["sha"], e["trigger"], e["provider"], e["ref"]) for e in events] == [
        (after, "push", "bitbucket", "refs/heads/main")]
    reply = system.call("POST", f"/v1/builds/{events[0]['build_id']}/status", token=events[0]["callback_token"],
                        body={"status": "running"})
    assert reply.status == 200
    system.drain("StatusMirrorFunction")  # statuses go to Bitbucket through their queue
    (status,) = fake.statuses(app, after)
    assert status["state"] == "INPROGRESS"
    assert status["key"] == "gitconnect-" + linked["source"]["id"].removeprefix("src_")
    assert status["url"].startswith("http")
    system.call("POST", f"/v1/builds/{events[0]['build_id']}/status", token=events[0]["callback_token"],
                body={"status": "succeeded", "url": "https://ci.example/runs/1"})
    system.drain("StatusMirrorFunction")
    (status,) = fake.statuses(app, after)  # the same status, updated in place (one key per source)
    assert (status["state"], status["url"]) == ("SUCCESSFUL", "https://ci.example/runs/1")


def test_one_push_with_several_changes(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                       linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    head = app.branches["main"]
    release, tag, feature = fake_sha("release-1"), fake_sha("tagged"), fake_sha("feature-1")
    for sha in (release, tag, feature):
        fake.add_commit(app, sha, parents=[head])
    fake.set_branch(app, "release/1.0", release)
    statuses = fake.send_push(app, [
        {"branch": "release/1.0", "old": None, "new": release},  # created: path rules cannot apply, it builds
        {"tag": "v1.0.0", "old": None, "new": tag},
        {"branch": "feature/x", "old": None, "new": feature},  # not watched
        {"branch": "gone", "old": head, "new": None},  # deleted
    ])
    assert [s for _, s in statuses] == [202]
    events = routed(system)
    assert sorted((e["trigger"], e["ref"], e["sha"]) for e in events) == [
        ("push", "refs/heads/release/1.0", release), ("tag", "refs/tags/v1.0.0", tag)]
    (delivery,) = [d for d in deliveries(system, admin).values() if len(d["build_ids"]) == 2]
    assert "refs/heads/feature/x" in delivery["reason"] and "refs/heads/gone" in delivery["reason"]


def test_path_rules_use_the_diffstat(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                     linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    source_id = linked["source"]["id"]
    assert system.call("PATCH", f"/v1/teams/{TEAM}/sources/{source_id}", token=admin,
                       body={"paths": {"include": ["src/**"]}}).status == 200
    try:
        base = app.branches["main"]
        docs_only, code, unknown = fake_sha("docs-only"), fake_sha("code"), fake_sha("unknown")
        fake.add_commit(app, docs_only, parents=[base])
        fake.set_diffstat(app, docs_only, base, ["README.md"])
        fake.set_branch(app, "main", docs_only)
        fake.send_push(app, [{"branch": "main", "old": base, "new": docs_only}])
        assert routed(system) == []
        fake.add_commit(app, code, parents=[docs_only])
        fake.set_diffstat(app, code, docs_only, ["docs/a.md", "src/app.py"])
        fake.set_branch(app, "main", code)
        fake.send_push(app, [{"branch": "main", "old": docs_only, "new": code}])
        assert [e["sha"] for e in routed(system)] == [code]
        assert fake.requests("GET", f"/repositories/acme/app/diffstat/{code}..{docs_only}")
        # Bitbucket cannot say (no diffstat for that range): built, and the log says the files were unknown
        fake.add_commit(app, unknown, parents=[code])
        fake.set_branch(app, "main", unknown)
        fake.send_push(app, [{"branch": "main", "old": code, "new": unknown}])
        assert [e["sha"] for e in routed(system)] == [unknown]
        reasons = [d["reason"] for d in deliveries(system, admin).values() if d["build_ids"]]
        assert any("unknown" in r for r in reasons), reasons
    finally:
        system.call("PATCH", f"/v1/teams/{TEAM}/sources/{source_id}", token=admin,
                    body={"paths": {"include": [], "exclude": []}})


def test_pull_requests_resolve_short_hashes(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                            linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    head = fake_sha("pr-head")
    fake.add_commit(app, head, parents=[app.branches["main"]])
    pr = payload("pull-request-created")  # the real payload, re-addressed to our repository
    for side in (pr["repository"], pr["pullrequest"]["source"]["repository"],
                 pr["pullrequest"]["destination"]["repository"]):
        side.update({"uuid": app.uuid, "full_name": "acme/app", "name": "app"})
    pr["pullrequest"]["source"]["commit"]["hash"] = head[:12]
    pr["pullrequest"]["destination"]["branch"]["name"] = "main"
    assert [s for _, s in fake.send_event(app, "pullrequest:created", pr)] == [202]
    events = routed(system)
    assert [(e["trigger"], e["sha"], e["pull_request"]["number"]) for e in events] == [("pull_request", head, 1)]
    # An edit of the title (pullrequest:updated, same commit) requests the same build: created once
    assert [s for _, s in fake.send_event(app, "pullrequest:updated", pr)] == [202]
    assert routed(system) == []
    # Merged and declined build nothing; an unknown short hash is explained, not built
    fake.send_event(app, "pullrequest:fulfilled", pr)
    pr["pullrequest"]["source"]["commit"]["hash"] = "abcdefabcdef"
    fake.send_event(app, "pullrequest:created", pr)
    assert routed(system) == []
    assert any("could not be resolved" in d["reason"] for d in deliveries(system, admin).values())



def test_releases_are_refused_where_bitbucket_has_none(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                                      linked: dict[str, Any]) -> None:
    system = bb[0]
    before = system.call("GET", f"/v1/teams/{TEAM}/sources", token=admin).json()["items"]
    made = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": linked["connection"]["id"], "repository": "acme/app", "releases": True})
    assert made.status == 400 and "has no releases" in made.json()["detail"], made.body
    patched = system.call("PATCH", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}", token=admin,
                          body={"releases": True})
    assert patched.status == 400
    assert system.call("GET", f"/v1/teams/{TEAM}/sources", token=admin).json()["items"] == before

def test_bad_deliveries(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                        linked: dict[str, Any]) -> None:
    system, _, world = bb
    hook = the_hook(world["app"])
    path = urlsplit(hook.url).path
    body = json.dumps(payload("repo-push")).encode()
    headers = {"x-event-key": "repo:push", "x-request-uuid": "bad-1", "content-type": "application/json"}
    assert system.call("POST", path, raw_body=body, headers=headers).status == 401
    assert system.call("POST", path, raw_body=body,
                       headers={**headers, "x-hub-signature": signature("wrong", body)}).status == 401
    signed = {**headers, "x-hub-signature": signature(hook.secret, body)}
    assert system.call("POST", "/v1/webhooks/bitbucket/hook_missing", raw_body=body, headers=signed).status == 404
    broken = b'{"push": '
    assert system.call("POST", path, raw_body=broken,
                       headers={**headers, "x-hub-signature": signature(hook.secret, broken)}).status == 400
    no_event = {k: v for k, v in signed.items() if k != "x-event-key"}
    assert system.call("POST", path, raw_body=body, headers=no_event).status == 400
    # A signed delivery about another repository, and a retried one (same X-Request-UUID): 2xx, nothing built
    assert system.call("POST", path, raw_body=body, headers=signed).status == 202
    assert system.call("POST", path, raw_body=body, headers={**signed, "x-attempt-number": "2"}).status == 202
    assert routed(system) == []
    log = deliveries(system, admin)
    assert log["bad-1"]["outcome"] in ("ignored", "duplicate")


def test_duplicate_delivery_builds_once(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                        linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    before, after = app.branches["main"], fake_sha("dup")
    fake.add_commit(app, after, parents=[before])
    fake.set_branch(app, "main", after)
    fake.send_push(app, [{"branch": "main", "old": before, "new": after}])
    _, _, headers, body, _ = fake.deliveries[-1]
    hook = the_hook(app)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    retried = {k.lower(): v for k, v in headers.items()}
    retried["x-attempt-number"] = "2"
    assert system.call("POST", urlsplit(hook.url).path, raw_body=raw, headers=retried).status == 202
    assert [e["sha"] for e in routed(system)] == [after]
    entries = [d for d in delivery_log(system, admin) if d["id"] == retried["x-request-uuid"]]
    assert sorted(d["outcome"] for d in entries) == ["built", "duplicate"]


def test_regenerate_rotates_the_secret(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                       linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    hook = the_hook(app)
    old_secret = hook.secret
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}/webhooks/regenerate",
                        token=admin)
    assert reply.json() == {"regenerated": 1}
    assert the_hook(app).secret != old_secret and the_hook(app).url == hook.url
    # A delivery signed with the old secret builds nothing (refused at the door or by the router)
    before, after = app.branches["main"], fake_sha("stale")
    body = payload("repo-push")
    body["repository"].update({"uuid": app.uuid, "full_name": "acme/app"})
    body["push"]["changes"][0]["old"]["target"]["hash"] = before
    body["push"]["changes"][0]["new"]["target"]["hash"] = after
    body["push"]["changes"][0]["new"]["name"] = body["push"]["changes"][0]["old"]["name"] = "main"
    raw = json.dumps(body).encode()
    stale = system.call("POST", urlsplit(hook.url).path, raw_body=raw, headers={
        "x-event-key": "repo:push", "x-request-uuid": "stale-1", "x-hub-signature": signature(old_secret, raw)})
    assert stale.status in (202, 401)
    assert routed(system) == []
    # Bitbucket's next delivery (new secret) builds
    fake.add_commit(app, after, parents=[before])
    fake.set_branch(app, "main", after)
    fake.send_push(app, [{"branch": "main", "old": before, "new": after}])
    assert [e["sha"] for e in routed(system)] == [after]


def test_sync_recreates_a_deleted_hook_and_builds_what_was_missed(
        bb: tuple[System, FakeBitbucket, dict[str, Any]], linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    system.sync()
    assert routed(system) == []
    hook = the_hook(app)
    fake.remove_hook(app, hook.uuid)
    missed = fake_sha("missed")
    fake.add_commit(app, missed, parents=[app.branches["main"]])
    fake.set_branch(app, "main", missed)
    system.sync()
    recreated = the_hook(app)
    assert recreated.url == hook.url and recreated.secret == hook.secret and recreated.uuid != hook.uuid
    assert [(e["sha"], e["trigger"]) for e in routed(system)] == [(missed, "push")]
    # Made inactive on Bitbucket: replaced by an active one, and the next push arrives again
    recreated.active = False
    system.sync()
    again = the_hook(app)
    assert again.active and again.uuid != recreated.uuid
    assert routed(system) == []  # nothing was pushed meanwhile
    after = fake_sha("after-repair")
    fake.add_commit(app, after, parents=[missed])
    fake.set_branch(app, "main", after)
    assert [s for _, s in fake.send_push(app, [{"branch": "main", "old": missed, "new": after}])] == [202]
    assert [e["sha"] for e in routed(system)] == [after]


def test_manual_build_resolves_the_head(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                        linked: dict[str, Any]) -> None:
    system, fake, world = bb
    head = fake_sha("manual")
    fake.add_commit(world["app"], head)
    fake.set_branch(world["app"], "main", head)
    url = f"/v1/teams/{TEAM}/sources/{linked['source']['id']}/builds"
    reply = system.call("POST", url, token=admin, body={"branch": "main"})
    assert reply.status == 202 and reply.json()["sha"] == head
    assert [e["sha"] for e in routed(system)] == [head]
    assert system.call("POST", url, token=admin, body={"branch": "nope"}).status == 422


def test_unlink_removes_the_hook(bb: tuple[System, FakeBitbucket, dict[str, Any]], admin: str,
                                 linked: dict[str, Any]) -> None:
    system, fake, world = bb
    app = world["app"]
    assert system.call("DELETE", f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}",
                       token=admin).status == 204
    assert app.hooks == {}
    assert fake.send_push(app, [{"branch": "main", "old": fake_sha("x"), "new": fake_sha("y")}]) == []
    assert routed(system) == []
