"""GitOps through pull requests on Bitbucket Cloud, through the real handlers and the fake (branch restrictions,
refs/branches and pullrequests as Bitbucket's 2.0 API documents them, signed webhooks): a restricted branch refuses a
direct save (409 naming pull-request mode); in pull-request mode a save opens a pull request from
gitconnect/<template id>, the next one updates it, and the merge's push is the new version; a pull request that
breaks the linked file gets a FAILED `gitconnect/template` build status with the parse error's line, SUCCESSFUL once
fixed."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.test_bitbucket_flow import TEAM, admin, bb, linked  # noqa: F401 - fixtures, reused
from tests.support.bitbucket_fixtures import payload
from tests.support.fake_bitbucket import FakeBitbucket, FakeRepo
from tests.support.inprocess import System

PATH = "deploy/app.json"


def _pull_request(repo: FakeRepo, source: str, number: int = 9) -> dict[str, Any]:
    """The real pullrequest payload, re-addressed: `source` into main of our repository, its head as Bitbucket
    names it (12 characters)."""
    pr = payload("pull-request-created")
    for side in (pr["repository"], pr["pullrequest"]["source"]["repository"],
                 pr["pullrequest"]["destination"]["repository"]):
        side.update({"uuid": repo.uuid, "full_name": repo.full_name, "name": repo.slug})
    pr["pullrequest"]["id"] = number
    pr["pullrequest"]["source"]["branch"]["name"] = source
    pr["pullrequest"]["source"]["commit"]["hash"] = repo.branches[source][:12]
    pr["pullrequest"]["destination"]["branch"]["name"] = "main"
    return pr


def _file(repo: FakeRepo, branch: str, path: str = PATH) -> Any:
    return json.loads(repo.files[branch][path][0])


def test_restricted_branch_then_pull_request_mode(bb: tuple[System, FakeBitbucket, dict], admin: str,  # noqa: F811
                                                  linked: dict) -> None:  # noqa: F811
    system, fake, world = bb
    app = world["app"]
    first = fake.put_file(app, "main", PATH, b'{"replicas": 1}')
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "app", "gitops": {"connection_id": linked["connection"]["id"], "repository": "acme/app",
                                  "branch": "main", "path": PATH, "mode": "link"}})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    url = f"/v1/teams/{TEAM}/templates/{tid}"

    # Given branch restrictions on main, a direct save is refused (Bitbucket's 403): 409 naming pull-request mode
    fake.restrict(app, "main")
    refused = system.call("PUT", url, token=admin, body={"content": {"replicas": 2}, "base_version": 1})
    assert refused.status == 409, refused.body
    assert "protected" in refused.json()["detail"] and '"write": "pull_request"' in refused.json()["detail"]
    assert app.branches["main"] == first

    assert system.call("PATCH", url, token=admin, body={"gitops": {"write": "pull_request"}}).status == 200
    opened = system.call("PUT", url, token=admin, body={"content": {"replicas": 2}, "base_version": 1})
    assert opened.status == 202, opened.body
    pull, branch = opened.json()["pull_request"], f"gitconnect/{tid}"
    assert (pull["action"], pull["number"], pull["branch"]) == ("opened", 1, branch)
    assert pull["url"] == f"{fake.web_url}/acme/app/pull-requests/1"
    assert opened.json()["version"] == 1 and _file(app, branch) == {"replicas": 2}

    updated = system.call("PUT", url, token=admin, body={"content": {"replicas": 3}, "base_version": 1})
    assert updated.status == 202, updated.body
    assert (updated.json()["pull_request"]["action"], updated.json()["pull_request"]["number"]) == ("updated", 1)
    [only] = app.pullrequests
    assert (only["state"], only["source"], only["destination"], only["updates"]) == ("OPEN", branch, "main", 1)
    assert _file(app, branch) == {"replicas": 3} and _file(app, "main") == {"replicas": 1}

    # Merged on Bitbucket: the push to main is the new version, from the merge commit
    merged = fake.merge(app, 1)
    fake.send_push(app, [{"branch": "main", "old": first, "new": merged}])
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the push the router requested
    current = system.call("GET", url, token=admin).json()
    assert (current["version"], current["content"]) == (2, {"replicas": 3})
    history = system.call("GET", f"{url}/versions", token=admin).json()["items"]
    assert (history[0]["origin"], history[0]["commit_sha"]) == ("git", merged)


def test_a_pull_request_that_breaks_the_linked_file_fails_its_status(
        bb: tuple[System, FakeBitbucket, dict], admin: str, linked: dict) -> None:  # noqa: F811
    system, fake, world = bb
    app = world["app"]
    app.restricted.discard("main")  # (the test above restricted it)
    fake.put_file(app, "main", "checked.json", b'{"n": 1}')
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "checked", "gitops": {"connection_id": linked["connection"]["id"], "repository": "acme/app",
                                      "branch": "main", "path": "checked.json", "mode": "link"}})
    assert created.status == 201, created.body

    # Given a developer's branch whose JSON is broken on line 2
    fake.set_branch(app, "feature", app.branches["main"])
    broken = fake.put_file(app, "feature", "checked.json", b'{"n": 2,\n  broken\n}\n')
    assert [s for _, s in fake.send_event(app, "pullrequest:created", _pull_request(app, "feature"))] == [202]
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    [failed] = [s for s in fake.statuses(app, broken) if s["key"] == "gitconnect-template"]
    assert (failed["state"], failed["name"]) == ("FAILED", "gitconnect/template")
    assert "checked.json" in failed["description"] and "line 2" in failed["description"]

    # Fixed by a new commit (pullrequest:updated): the new head passes
    fixed = fake.put_file(app, "feature", "checked.json", b'{"n": 2}\n')
    fake.send_event(app, "pullrequest:updated", _pull_request(app, "feature"))
    system.drain("EventRouterFunction")
    system.drain("StatusMirrorFunction")
    [passed] = [s for s in fake.statuses(app, fixed) if s["key"] == "gitconnect-template"]
    assert passed["state"] == "SUCCESSFUL"
