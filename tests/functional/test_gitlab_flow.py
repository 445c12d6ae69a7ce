"""GitLab through the real handlers: link by token, projects, a source registers its project hook, GitLab's own
example payloads delivered to the hook URL become builds, status back, regenerate, unlink removes the hook.
GitLab is the faithful fake (tests/support/fake_gitlab.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.functional.conftest import system_with
from tests.support.fake_gitlab import FakeGitLab, FakeHook, FakeProject, fake_sha
from tests.support.inprocess import System

TEAM = "lab-team"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[System, FakeGitLab, dict[str, Any]]]:
    with FakeGitLab() as fake, system_with({"GITLAB_URL": fake.base_url}) as system:
        def deliver(hook: FakeHook, headers: dict[str, str], payload: Any) -> int:
            """GitLab calls the hook URL: here, straight into the in-process API."""
            return system.call("POST", urlsplit(hook.url).path, raw_body=json.dumps(payload).encode(),
                               headers={k.lower(): v for k, v in headers.items()}).status

        fake.deliver = deliver
        alice = fake.add_user("alice")
        group = fake.add_group("acme")
        fake.add_member(alice, group)
        project = fake.add_project(group, "app", branches={"main": fake_sha("main-1")})
        fake.add_project(group, "docs")
        yield system, fake, {"token": fake.personal_token(alice), "project": project}


@pytest.fixture(scope="module")
def admin(lab: tuple[System, FakeGitLab, dict[str, Any]]) -> str:
    return lab[0].token({TEAM: "admin"})


@pytest.fixture(scope="module")
def linked(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str) -> dict[str, Any]:
    system, _, world = lab
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                        body={"provider": "gitlab", "token": world["token"]})
    assert reply.status == 201, reply.body
    connection = reply.json()
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": connection["id"], "repository": "acme/app", "branches": ["main"], "tags": ["v*"]})
    assert source.status == 201, source.body
    return {"connection": connection, "source": source.json()}


def routed(system: System) -> list[dict[str, Any]]:
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    return [e["detail"] for e in system.bus_events()]


def push(fake: FakeGitLab, project: FakeProject, ref: str, before: str, after: str) -> dict[str, Any]:
    """GitLab's documented Push Hook example, about our project."""
    payload = fixture("push-hook.json")
    path = fake.path_with_namespace(project)
    payload.update({"ref": ref, "before": before, "after": after, "checkout_sha": after, "project_id": project.id})
    payload["project"].update({"id": project.id, "path_with_namespace": path, "namespace": "acme"})
    payload["commits"] = [{**payload["commits"][0], "id": after, "message": "change"}]
    payload["total_commits_count"] = 1
    return payload


def test_link_by_token_is_verified(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,
                                   linked: dict[str, Any]) -> None:
    system, fake, _ = lab
    connection = linked["connection"]
    assert (connection["provider"], connection["account"], connection["base_url"]) == ("gitlab", "alice",
                                                                                      fake.base_url)
    assert "token" not in json.dumps(connection)
    refused = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                          body={"provider": "gitlab", "token": "glpat-wrong"})
    assert refused.status == 422 and refused.headers["content-type"] == "application/problem+json"
    not_gitlab = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                             body={"provider": "gitlab", "token": "x", "base_url": "http://127.0.0.1:1"})
    assert not_gitlab.status == 422
    metadata = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                           body={"provider": "gitlab", "token": "x", "base_url": "http://169.254.169.254"})
    assert metadata.status == 400
    items = system.call("GET", f"/v1/teams/{TEAM}/connections", token=admin).json()["items"]
    assert [c["id"] for c in items] == [connection["id"]]


def test_projects_namespaces_branches(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,
                                      linked: dict[str, Any]) -> None:
    system, _, _ = lab
    base = f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}"
    repos = system.call("GET", f"{base}/repositories", token=admin).json()["items"]
    assert [r["full_name"] for r in repos] == ["acme/app", "acme/docs"]
    assert {"name": "acme", "allowed": True} in system.call("GET", f"{base}/namespaces", token=admin).json()["items"]
    branches = system.call("GET", f"{base}/branches?repository=acme/app", token=admin).json()["items"]
    assert branches == [{"name": "main", "sha": fake_sha("main-1")}]


def test_source_hook_push_build_status(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,
                                       linked: dict[str, Any]) -> None:
    system, fake, world = lab
    project = world["project"]
    hooks = list(project.hooks.values())
    assert len(hooks) == 1 and urlsplit(hooks[0].url).path.startswith("/v1/webhooks/gitlab/hook_")
    assert hooks[0].token and hooks[0].flags["push_events"] and hooks[0].flags["merge_requests_events"]
    after = fake_sha("main-2")
    fake.set_branch(project, "main", after)
    assert [status for _, status in fake.send_event(project, "push", push(fake, project, "refs/heads/main",
                                                                           fake_sha("main-1"), after))] == [202]
    events = routed(system)
    assert [(e["sha"], e["trigger"], e["provider"]) for e in events] == [(after, "push", "gitlab")]
    system.call("POST", f"/v1/builds/{events[0]['build_id']}/status", token=events[0]["callback_token"],
                body={"status": "running"})
    system.drain("StatusMirrorFunction")  # statuses go to GitLab through their queue
    assert [s["status"] for s in fake.statuses(project, after)] == ["running"]
    # GitLab's documented Tag Push Hook example, about our project: a tag build at its checkout sha
    tag = fixture("tag-push-hook.json")
    tag.update({"ref": "refs/tags/v1.0.0", "project_id": project.id, "checkout_sha": after})
    tag["project"].update({"id": project.id, "path_with_namespace": "acme/app", "namespace": "acme"})
    fake.send_event(project, "tag_push", tag)
    assert [(e["trigger"], e["sha"]) for e in routed(system)] == [("tag", after)]


def test_wrong_token_unknown_hook_and_regenerate(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,
                                                 linked: dict[str, Any]) -> None:
    system, fake, world = lab
    project = world["project"]
    hook = next(iter(project.hooks.values()))
    path = urlsplit(hook.url).path
    body = json.dumps(push(fake, project, "refs/heads/main", fake_sha("a"), fake_sha("b"))).encode()
    headers = {"x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "u-1"}
    assert system.call("POST", path, raw_body=body, headers={**headers, "x-gitlab-token": "nope"}).status == 401
    assert system.call("POST", "/v1/webhooks/gitlab/hook_missing", raw_body=body,
                       headers={**headers, "x-gitlab-token": hook.token or ""}).status == 404
    old_token = hook.token
    regenerated = system.call("POST", f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}/webhooks/regenerate",
                              token=admin)
    assert regenerated.json() == {"regenerated": 1}
    assert hook.token != old_token
    # The old secret stops building at once; GitLab's next delivery (new secret) builds
    # This warm intake still holds the old secret (cached), so it accepts the delivery; the router refuses it.
    stale = system.call("POST", path, raw_body=body, headers={**headers, "x-gitlab-token": old_token or ""})
    assert stale.status == 202
    fake.set_branch(project, "main", fake_sha("main-3"))
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", fake_sha("main-2"), fake_sha("main-3")))
    assert [e["sha"] for e in routed(system)] == [fake_sha("main-3")]
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
    assert next(d for d in log if d["id"] == "u-1")["outcome"] == "rejected"


def test_sync_repairs_deleted_and_disabled_hooks_and_builds_what_was_missed(
        lab: tuple[System, FakeGitLab, dict[str, Any]], linked: dict[str, Any]) -> None:
    system, fake, world = lab
    project = world["project"]
    system.sync()  # all healthy: nothing recreated, nothing built
    assert routed(system) == []
    (hook,) = project.hooks.values()
    # Deleted on GitLab's side, and a push lands meanwhile (no delivery: nobody is listening)
    fake.remove_hook(project, hook.id)
    missed = fake_sha("missed-1")
    fake.set_branch(project, "main", missed)
    assert system.fire_schedule()["sent"] == {"hook": 1}  # the hook is due (interval 0 here); its check runs next
    system.drain("SyncFunction")
    (recreated,) = project.hooks.values()
    assert recreated.url == hook.url and recreated.token == hook.token
    assert [(e["sha"], e["trigger"]) for e in routed(system)] == [(missed, "push")]
    # Disabled by GitLab after failures: recreated, and the next push arrives again
    fake.disable_hook(project, recreated.id, permanently=True)
    system.sync()
    (again,) = project.hooks.values()
    assert again.id != recreated.id and fake.alert_status(again) == "executable"
    assert routed(system) == []  # nothing was pushed meanwhile
    after = fake_sha("after-repair")
    fake.set_branch(project, "main", after)
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", missed, after))
    assert [e["sha"] for e in routed(system)] == [after]


def test_manual_build_resolves_the_head_through_the_api(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,
                                                        linked: dict[str, Any]) -> None:
    system, fake, world = lab
    head = fake_sha("manual-head")
    fake.set_branch(world["project"], "main", head)
    reply = system.call("POST", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}/builds", token=admin,
                        body={"branch": "main"})
    assert reply.status == 202 and reply.json()["sha"] == head
    assert [e["sha"] for e in routed(system)] == [head]
    missing = system.call("POST", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}/builds", token=admin,
                          body={"branch": "nope"})
    assert missing.status == 422


def test_unlink_removes_the_hook(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,
                                 linked: dict[str, Any]) -> None:
    system, fake, world = lab
    project = world["project"]
    assert system.call("DELETE", f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}",
                       token=admin).status == 204
    assert project.hooks == {}
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", fake_sha("x"), fake_sha("y")))
    assert routed(system) == []
