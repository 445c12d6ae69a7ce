"""GitOps on GitHub through the real handlers and the fake (its contents endpoints checked against GitHub's OpenAPI
description in tests/contract): save a new file, a signed push that changes it is a new version at once, a save in the
app commits with the blob sha (GitHub refuses a stale one: 409 showing the repository's content), no loops."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.github_support import deliver
from tests.functional.test_github_flow import TEAM, admin, gh, linked, push_payload  # noqa: F401 - fixtures, reused
from tests.support.authorship import create_authored
from tests.support.fake_github import FakeGitHub
from tests.support.inprocess import System


def test_template_on_github(gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]) -> None:  # noqa: F811
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    gitops = {"connection_id": linked["connection_id"], "repository": "octo-org/app", "branch": "main",
              "path": "deploy/app.json"}
    assert system.call("POST", f"/v1/teams/{TEAM}/gitops/fetch", token=admin, body=gitops).json()["exists"] is False
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "app", "content": {"replicas": 1}, "gitops": {**gitops, "mode": "create"}})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    assert json.loads(fake.file_at("octo-org/app", "main", "deploy/app.json") or b"") == {"replicas": 1}
    first_commit = repo.branches["main"]
    assert created.json()["gitops"]["last_synced_sha"] == first_commit
    fetched = system.call("POST", f"/v1/teams/{TEAM}/gitops/fetch", token=admin, body=gitops).json()
    assert fetched["exists"] and fetched["content"] == {"replicas": 1}

    # A developer pushes a change: GitHub's push webhook makes it a version at once (no scheduled sync needed)
    pushed = fake.put_file("octo-org/app", "main", "deploy/app.json", '{"replicas": 2}', "scale to 2")
    assert deliver(system, "push", push_payload(installation, repo, "refs/heads/main", first_commit, pushed)
                   ).status == 202
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the delivery requested
    current = system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()
    assert current["version"] == 2 and current["content"] == {"replicas": 2}
    history = system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}/versions", token=admin).json()["items"]
    assert (history[0]["origin"], history[0]["commit_sha"]) == ("git", pushed)

    # Save in the app: committed with the blob sha; the echo of that commit is no new version
    saved = system.call("PUT", f"/v1/teams/{TEAM}/templates/{tid}", token=admin,
                        body={"content": {"replicas": 3}, "base_version": 2, "commit_message": "scale to 3"})
    assert saved.status == 200, saved.body
    ours = repo.branches["main"]
    assert fake.file_commits[ours] == (pushed, "scale to 3\n\nCo-authored-by: octocat <octocat@users.gitconnect>")
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", pushed, ours))
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the delivery requested
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()["version"] == 3

    # Changed on GitHub meanwhile (no delivery yet): GitHub refuses the stale blob sha, nothing is overwritten
    by_hand = fake.put_file("octo-org/app", "main", "deploy/app.json", '{"replicas": 7}', "by hand")
    conflict = system.call("PUT", f"/v1/teams/{TEAM}/templates/{tid}", token=admin,
                           body={"content": {"replicas": 4}, "base_version": 3})
    assert conflict.status == 409
    assert conflict.json()["repository"] == {"sha": by_hand, "content": {"replicas": 7}}
    assert json.loads(fake.file_at("octo-org/app", "main", "deploy/app.json") or b"") == {"replicas": 7}


def test_app_commits_are_authored_by_the_saver(gh: tuple[System, FakeGitHub], admin: str,  # noqa: F811
                                               linked: dict[str, Any]) -> None:  # noqa: F811
    """The token's `name`/`email` author the commit (contents API `author`); no `committer` is sent, so the App is
    the committer. Without them the App authors it and the message names the user in a Co-authored-by trailer."""
    system, fake = gh
    repo = linked["repo"]
    bot = {"name": "gitconnect[bot]", "email": "gitconnect[bot]@users.noreply.github.com"}
    created = create_authored(system, TEAM, linked["connection_id"], "octo-org/app")
    first = repo.branches["main"]
    assert fake.file_commit_people[first] == {"author": {"name": "Ada Lovelace", "email": "ada@example.com"},
                                              "committer": bot}
    assert fake.file_commits[first][1] == "Add authored"
    tid = created.json()["id"]
    saved = system.call("PUT", f"/v1/teams/{TEAM}/templates/{tid}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1, "commit_message": "Bump"})
    assert saved.status == 200, saved.body
    second = repo.branches["main"]
    assert fake.file_commit_people[second] == {"author": bot, "committer": bot}
    assert fake.file_commits[second][1] == "Bump\n\nCo-authored-by: octocat <octocat@users.gitconnect>"
    versions = system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}/versions", token=admin).json()["items"]
    assert [v["author"] for v in versions] == ["octocat", "user-ada"]  # the version list keeps the saving user
