"""GitOps through merge requests on GitLab, through the real handlers and the fake (protected branches, branches and
merge requests as GitLab's API documents them, project hooks): a protected branch refuses a direct save (409 naming
pull-request mode); in pull-request mode a save opens a merge request from gitconnect/<template id>, the next one
updates it, and the merge's push is the new version; a merge request that breaks the linked file gets a failed
`gitconnect/template` commit status with the parse error's line, and a success once fixed."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.test_gitlab_flow import TEAM, admin, fixture, lab, linked, push  # noqa: F401 - fixtures
from tests.support.fake_gitlab import FakeGitLab, FakeProject
from tests.support.inprocess import System

PATH = "deploy/app.json"


def _merge_request(fake: FakeGitLab, project: FakeProject, action: str, source: str, *, oldrev: str | None = None
                   ) -> dict[str, Any]:
    """GitLab's documented Merge Request Hook example, about our project: `source` into main."""
    payload = fixture("merge-request-hook.json")
    where = {"id": project.id, "path_with_namespace": fake.path_with_namespace(project), "namespace": "acme"}
    payload["project"].update(where)
    attrs = payload["object_attributes"]
    attrs["target"].update(where)
    attrs["source"].update(where)
    attrs.update({"action": action, "source_branch": source, "target_branch": "main", "iid": 5,
                  "source_project_id": project.id, "target_project_id": project.id, "oldrev": oldrev})
    attrs["last_commit"]["id"] = project.branches[source]
    return payload


def _file(project: FakeProject, branch: str) -> Any:
    return json.loads(project.files[branch][PATH][0])


def test_protected_branch_then_merge_request_mode(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,  # noqa: F811
                                                  linked: dict[str, Any]) -> None:  # noqa: F811
    system, fake, world = lab
    project = world["project"]
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "app", "content": {"replicas": 1}, "gitops": {
            "connection_id": linked["connection"]["id"], "repository": "acme/app", "branch": "main", "path": PATH,
            "mode": "create"}})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    url = f"/v1/teams/{TEAM}/templates/{tid}"

    # Given a protected main, a direct save is refused (GitLab's 403): 409 saying to use pull-request mode
    fake.protect(project, "main")
    refused = system.call("PUT", url, token=admin, body={"content": {"replicas": 2}, "base_version": 1})
    assert refused.status == 409, refused.body
    assert "protected" in refused.json()["detail"] and '"write": "pull_request"' in refused.json()["detail"]
    assert _file(project, "main") == {"replicas": 1}

    assert system.call("PATCH", url, token=admin, body={"gitops": {"write": "pull_request"}}).status == 200
    opened = system.call("PUT", url, token=admin, body={"content": {"replicas": 2}, "base_version": 1})
    assert opened.status == 202, opened.body
    pull, branch = opened.json()["pull_request"], f"gitconnect/{tid}"
    assert (pull["action"], pull["number"], pull["branch"]) == ("opened", 1, branch)
    assert pull["url"].endswith("/acme/app/-/merge_requests/1")
    assert opened.json()["version"] == 1 and _file(project, branch) == {"replicas": 2}

    updated = system.call("PUT", url, token=admin, body={"content": {"replicas": 3}, "base_version": 1})
    assert updated.status == 202, updated.body
    assert (updated.json()["pull_request"]["action"], updated.json()["pull_request"]["number"]) == ("updated", 1)
    [only] = project.merge_requests
    assert (only["state"], only["source_branch"], only["target_branch"], only["updates"]) == (
        "opened", branch, "main", 1)
    assert _file(project, branch) == {"replicas": 3} and _file(project, "main") == {"replicas": 1}

    # Merged on GitLab: the push to main is the new version, from the merge commit
    before = project.branches["main"]
    merged = fake.merge(project, 1)
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", before, merged))
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the push the router requested
    current = system.call("GET", url, token=admin).json()
    assert (current["version"], current["content"]) == (2, {"replicas": 3})
    history = system.call("GET", f"{url}/versions", token=admin).json()["items"]
    assert (history[0]["origin"], history[0]["commit_sha"]) == ("git", merged)


def test_a_merge_request_that_breaks_the_linked_file_fails_its_status(
        lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str, linked: dict[str, Any]) -> None:  # noqa: F811
    system, fake, world = lab
    project = world["project"]
    # Given main still protected (the test above), creating the file directly is refused (409 naming the mode) and
    # nothing is stored; a template created in pull-request mode proposes its new file instead
    spec = {"connection_id": linked["connection"]["id"], "repository": "acme/app", "branch": "main",
            "path": "checked.json", "mode": "create"}
    listed = system.call("GET", f"/v1/teams/{TEAM}/templates", token=admin).json()["items"]
    direct = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "checked", "content": {"n": 1}, "gitops": spec})
    assert direct.status == 409 and '"write": "pull_request"' in direct.json()["detail"]
    assert system.call("GET", f"/v1/teams/{TEAM}/templates", token=admin).json()["items"] == listed
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "checked", "content": {"n": 1}, "gitops": {**spec, "write": "pull_request"}})
    assert created.status == 201, created.body
    proposed = created.json()["gitops"]["last_pull_request"]
    assert proposed["action"] == "opened" and "checked.json" not in project.files["main"]
    before = project.branches["main"]
    merged = fake.merge(project, proposed["number"])
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", before, merged))
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the push the router requested
    synced = system.call("GET", f"/v1/teams/{TEAM}/templates/{created.json()['id']}", token=admin).json()
    assert (synced["version"], synced["gitops"]["status"], synced["gitops"]["last_synced_sha"]) == (1, "synced", merged)

    # Given a developer's branch whose JSON is broken on line 2
    fake.set_branch(project, "feature", project.branches["main"])
    project.files["feature"] = dict(project.files["main"])
    fake.put_file(project, "feature", "checked.json", '{"n": 2,\n  broken\n}\n')
    broken = project.branches["feature"]
    fake.send_event(project, "merge_request", _merge_request(fake, project, "open", "feature"))
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    [failed] = [s for s in fake.statuses(project, broken) if s["name"] == "gitconnect/template"]
    assert failed["status"] == "failed" and "checked.json" in failed["description"]
    assert "line 2" in failed["description"]

    # Fixed by a new commit (an update with `oldrev`): the new head passes
    fake.put_file(project, "feature", "checked.json", '{"n": 2}\n')
    fixed = project.branches["feature"]
    fake.send_event(project, "merge_request", _merge_request(fake, project, "update", "feature", oldrev=broken))
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    [passed] = [s for s in fake.statuses(project, fixed) if s["name"] == "gitconnect/template"]
    assert passed["status"] == "success" and passed["ref"] == "feature"
