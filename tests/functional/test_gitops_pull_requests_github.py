"""GitOps through pull requests on GitHub, through the real handlers and the fake (branch protection, git refs,
pulls, check runs as GitHub documents them): a protected branch refuses a direct save (409 naming pull-request
mode); in pull-request mode a save opens a pull request from gitconnect/<template id>, the next one updates it, and
the merge's push is the new version; a pull request that breaks the linked file gets a failing `gitconnect/template`
check run with the parse error's line, and passes once fixed."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.github_support import deliver, example, readdress
from tests.functional.test_github_flow import gh, install, push_payload  # noqa: F401 - fixtures, reused
from tests.support.fake_github import FakeGitHub, FakeRepo, fake_sha
from tests.support.inprocess import System

TEAM = "pr-team"
PATH = "deploy/app.json"


def _linked(system: System, fake: FakeGitHub, account: str, *, checks: bool) -> dict[str, Any]:
    admin = system.token({TEAM: "admin"}, sub="octocat")
    installation = fake.add_installation(account)
    if checks:
        fake.installations[installation].permissions["checks"] = "write"
    repo = fake.add_repo(installation, f"{account}/app", branches={"main": fake_sha(f"{account} main")})
    outcome = install(system, fake, admin, installation, user_installs=[installation], team=TEAM)
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "app", "content": {"replicas": 1}, "gitops": {
            "connection_id": outcome["connection_id"][0], "repository": repo.full_name, "branch": "main",
            "path": PATH, "mode": "create"}})
    assert created.status == 201, created.body
    assert created.json()["gitops"]["write"] == "direct"
    return {"admin": admin, "installation": installation, "repo": repo, "template": created.json()}


def _pull_request(installation: int, repo: FakeRepo, action: str, head_ref: str, number: int = 7) -> dict[str, Any]:
    payload = readdress(example("pull_request", action="opened"), installation, repo)
    pull = payload["pull_request"]
    head_repo = {**(pull["head"].get("repo") or {}), "id": repo.id, "full_name": repo.full_name}
    pull["head"].update({"ref": head_ref, "sha": repo.branches[head_ref], "repo": head_repo})
    pull["base"]["ref"] = "main"
    pull["number"], payload["number"], payload["action"] = number, number, action
    return payload


def test_protected_branch_then_pull_request_mode(gh: tuple[System, FakeGitHub]) -> None:  # noqa: F811
    system, fake = gh
    setup = _linked(system, fake, "pr-org", checks=False)
    admin, repo, tid = setup["admin"], setup["repo"], setup["template"]["id"]
    url = f"/v1/teams/{TEAM}/templates/{tid}"

    # Given branch protection on main, a direct save is refused: 409 saying to use pull-request mode
    fake.protect(repo.full_name, "main")
    refused = system.call("PUT", url, token=admin, body={"content": {"replicas": 2}, "base_version": 1})
    assert refused.status == 409, refused.body
    problem = refused.json()
    assert "protected" in problem["detail"] and '"write": "pull_request"' in problem["detail"]
    assert f"PATCH /v1/teams/{TEAM}/templates/{tid}" in problem["detail"]
    assert problem["suggested_write"] == "pull_request"
    assert json.loads(fake.file_at(repo.full_name, "main", PATH) or b"") == {"replicas": 1}

    # Anything but direct or pull_request is a 400, and changes nothing
    bad = system.call("PATCH", url, token=admin, body={"gitops": {"write": "merge_request"}})
    assert bad.status == 400 and bad.headers["content-type"] == "application/problem+json"
    switched = system.call("PATCH", url, token=admin, body={"gitops": {"write": "pull_request"}})
    assert switched.status == 200, switched.body
    assert switched.json()["gitops"]["write"] == "pull_request"

    # A save opens a pull request from gitconnect/<template id>; the template keeps its version
    opened = system.call("PUT", url, token=admin, body={"content": {"replicas": 2}, "base_version": 1})
    assert opened.status == 202, opened.body
    pull = opened.json()["pull_request"]
    branch = f"gitconnect/{tid}"
    assert (pull["action"], pull["number"], pull["branch"]) == ("opened", 1, branch)
    assert pull["url"] == f"{fake.web_url}/{repo.full_name}/pull/1"
    assert opened.json()["version"] == 1 and opened.json()["content"] == {"replicas": 1}
    assert json.loads(fake.file_at(repo.full_name, branch, PATH) or b"") == {"replicas": 2}
    assert json.loads(fake.file_at(repo.full_name, "main", PATH) or b"") == {"replicas": 1}

    # The next save updates that pull request (one commit more on its branch), never a second one
    updated = system.call("PUT", url, token=admin, body={"content": {"replicas": 3}, "base_version": 1,
                                                         "commit_message": "three"})
    assert updated.status == 202, updated.body
    assert (updated.json()["pull_request"]["action"], updated.json()["pull_request"]["number"]) == ("updated", 1)
    [only] = fake.pulls(repo.full_name)
    assert (only["state"], only["head"], only["base"], only["updates"]) == ("open", branch, "main", 1)
    assert json.loads(fake.file_at(repo.full_name, branch, PATH) or b"") == {"replicas": 3}
    read = system.call("GET", url, token=admin).json()
    assert read["version"] == 1 and read["gitops"]["last_pull_request"]["number"] == 1

    # Merged on GitHub: the push to main is the new version, from the merge commit
    before = repo.branches["main"]
    merged = fake.merge_pull(repo.full_name, 1)
    assert deliver(system, "push", push_payload(setup["installation"], repo, "refs/heads/main", before, merged)
                   ).status == 202
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the push the router requested
    current = system.call("GET", url, token=admin).json()
    assert (current["version"], current["content"]) == (2, {"replicas": 3})
    history = system.call("GET", f"{url}/versions", token=admin).json()["items"]
    assert (history[0]["origin"], history[0]["commit_sha"]) == ("git", merged)

    # With nothing open any more, the next save starts the branch again at main and opens a new pull request
    again = system.call("PUT", url, token=admin, body={"content": {"replicas": 4}, "base_version": 2})
    assert again.status == 202, again.body
    assert (again.json()["pull_request"]["action"], again.json()["pull_request"]["number"]) == ("opened", 2)

    # Without the Checks permission, that pull request's check is a commit status of context gitconnect/template
    deliver(system, "pull_request", _pull_request(setup["installation"], repo, "opened", branch, number=2))
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    shown = fake.statuses(repo.full_name, repo.branches[branch])
    [status] = [s for s in shown if s["context"] == "gitconnect/template"]
    assert (status["state"], status["description"]) == ("success", f"{PATH} is valid")


def test_a_pull_request_that_breaks_the_linked_file_fails_its_check(gh: tuple[System, FakeGitHub]) -> None:  # noqa: F811
    system, fake = gh
    setup = _linked(system, fake, "checked-pr-org", checks=True)
    repo, installation = setup["repo"], setup["installation"]

    # Given a developer's branch whose JSON is broken on line 3
    repo.branches["feature"] = repo.branches["main"]
    fake.put_file(repo.full_name, "feature", PATH, '{\n  "replicas": 2,\n  oops\n}\n', "break it")
    broken = repo.branches["feature"]
    assert deliver(system, "pull_request", _pull_request(installation, repo, "opened", "feature")).status == 202
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    [run] = fake.check_runs(repo.full_name, broken)
    assert (run["name"], run["status"], run["conclusion"]) == ("gitconnect/template", "completed", "failure")
    assert PATH in run["output"]["title"] and "line 3" in run["output"]["title"]

    # Fixed by a new commit (synchronize): the new head passes
    fake.put_file(repo.full_name, "feature", PATH, '{"replicas": 2}\n', "fix it")
    fixed = repo.branches["feature"]
    deliver(system, "pull_request", _pull_request(installation, repo, "synchronize", "feature"))
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    [passed] = fake.check_runs(repo.full_name, fixed)
    assert (passed["name"], passed["conclusion"]) == ("gitconnect/template", "success")
    assert passed["output"]["title"] == f"{PATH} is valid"

    # A pull request that leaves the linked file alone gets no check
    repo.branches["docs"] = repo.branches["main"]
    fake.put_file(repo.full_name, "docs", "README.md", "# app\n", "docs")
    deliver(system, "pull_request", _pull_request(installation, repo, "opened", "docs", number=8))
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    assert fake.check_runs(repo.full_name, repo.branches["docs"]) == []
