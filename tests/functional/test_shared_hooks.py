"""One webhook per repository per connection on GitLab and Bitbucket (issue 14 item 3), through the real handlers and
the provider fakes (Bitbucket: test_shared_hooks_bitbucket.py): a release flow's triggers or a linked template on a
repository without a source get a hook; the source, the template and the flow share it (one delivery per push, each
run requested once); it goes with its last user. Concurrent creators and removers settle on one hook (threads against
the real handlers under moto)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.functional.test_gitlab_flow import TEAM, lab, push  # noqa: F401 - fixtures, reused
from tests.support.fake_gitlab import FakeGitLab, fake_sha
from tests.support.inprocess import System


def _routed(system: System) -> dict[str, list[dict[str, Any]]]:
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")
    system.drain("BuildTriggerFunction")
    events: dict[str, list[dict[str, Any]]] = {}
    for event in system.bus_events(None):
        events.setdefault(event["detail-type"], []).append(event["detail"])
    return events


def share_one_hook(system: System, team: str, admin: str, connection_id: str, repository: str, hooks: Any,
                   push_file: Any) -> None:
    """The same story on either provider: `hooks()` counts the repository's hooks on the provider, `push_file()`
    changes deploy.json on main and delivers the push (returns the statuses of the deliveries)."""
    base = f"/v1/teams/{team}"
    assert hooks() == 0
    # A release flow with Git triggers on a repository no source watches: the repository gets its hook
    flow = system.call("POST", f"{base}/templates", token=admin, body={
        "name": "release", "kind": "release_flow", "content": {"steps": []},
        "triggers": {"connection_id": connection_id, "repository": repository, "branches": ["main"]}})
    assert flow.status == 201, flow.body
    assert hooks() == 1
    # A template linked to a file there, and a source on it: the same hook
    template = system.call("POST", f"{base}/templates", token=admin, body={
        "name": "app", "content": {"replicas": 1}, "run_on_update": True, "gitops": {
            "connection_id": connection_id, "repository": repository, "branch": "main", "path": "deploy.json",
            "mode": "create"}})
    assert template.status == 201, template.body
    source = system.call("POST", f"{base}/sources", token=admin, body={
        "connection_id": connection_id, "repository": repository, "branches": ["main"]})
    assert source.status == 201, source.body
    assert hooks() == 1
    system.bus_events(None)
    # A push: one delivery; the template takes the file, the flow runs once, the source builds once
    assert push_file('{"replicas": 2}') == [202]
    events = _routed(system)
    tid, fid = template.json()["id"], flow.json()["id"]
    assert system.call("GET", f"{base}/templates/{tid}", token=admin).json()["content"] == {"replicas": 2}
    assert sorted(r["template_id"] for r in events["RunRequested"]) == sorted([tid, fid])
    assert [b["source_id"] for b in events["BuildRequested"]] == [source.json()["id"]]
    # The hook stays while anything uses it, and goes with the last user
    assert system.call("DELETE", f"{base}/sources/{source.json()['id']}", token=admin).status == 204
    assert system.call("DELETE", f"{base}/templates/{tid}", token=admin).status == 204
    assert hooks() == 1
    # A template patched off GitOps no longer needs it either: here the flow's triggers are removed
    patched = system.call("PATCH", f"{base}/templates/{fid}", token=admin, body={"triggers": None})
    assert patched.status == 200, patched.body
    assert hooks() == 0
    assert [h for h in system_hooks(system, connection_id)] == []


def system_hooks(system: System, connection_id: str) -> list[dict[str, Any]]:
    table = system.res.attrs["HooksTable"]["Ref"]
    items = system.client("dynamodb").query(
        TableName=table, IndexName="by_connection", KeyConditionExpression="connection_id = :c",
        ExpressionAttributeValues={":c": {"S": connection_id}})["Items"]
    return list(items)


def test_gitlab_repository_hook_is_shared(lab: tuple[System, FakeGitLab, dict[str, Any]]) -> None:  # noqa: F811
    system, fake, world = lab
    admin = system.token({TEAM: "admin"})
    connection = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                             body={"provider": "gitlab", "token": world["token"]}).json()
    project = fake.add_project("acme", f"shared-{uuid.uuid4().hex[:6]}", branches={"main": fake_sha("s-main")})
    repository = fake.path_with_namespace(project)

    def push_file(content: str) -> list[int]:
        before = project.branches["main"]
        after = fake.put_file(project, "main", "deploy.json", content)
        return [status for _, status in fake.send_event(project, "push", push(fake, project, "refs/heads/main",
                                                                             before, after))]

    share_one_hook(system, TEAM, admin, connection["id"], repository, lambda: len(project.hooks), push_file)


def test_concurrent_users_of_one_repository_settle_on_one_hook(
    lab: tuple[System, FakeGitLab, dict[str, Any]],  # noqa: F811
) -> None:
    system, fake, world = lab
    admin = system.token({TEAM: "admin"})
    connection = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                             body={"provider": "gitlab", "token": world["token"]}).json()
    project = fake.add_project("acme", f"race-{uuid.uuid4().hex[:6]}", branches={"main": fake_sha("r-main")})
    triggers = {"connection_id": connection["id"], "repository": fake.path_with_namespace(project),
                "branches": ["main"]}

    def create(n: int) -> Any:
        return system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
            "name": f"flow-{n}", "kind": "release_flow", "content": {}, "triggers": triggers})

    # When eight release flows on one repository are created at the same moment
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(create, range(8)))
    assert [c.status for c in created] == [201] * 8, [c.body for c in created if c.status != 201]
    # Then the repository has one hook, here and on GitLab, with every flow among its users
    assert len(project.hooks) == 1
    [item] = system_hooks(system, connection["id"])
    assert len(item["users"]["SS"]) == 8
    # When they are all deleted at the same moment, the hook goes with the last one
    with ThreadPoolExecutor(8) as pool:
        deleted = list(pool.map(lambda c: system.call("DELETE", f"/v1/teams/{TEAM}/templates/{c.json()['id']}",
                                                      token=admin), created))
    assert [d.status for d in deleted] == [204] * 8
    assert len(project.hooks) == 0 and system_hooks(system, connection["id"]) == []
