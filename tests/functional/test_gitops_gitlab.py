"""GitOps on GitLab through the real handlers and the fake: a template saved to a new file (Commits API), a push that
changes it is a version at once (project hook), a save in the app commits with `last_commit_id` (GitLab refuses a
stale one: 409 showing the repository's content), and gitconnect's own commit does not come back."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.test_gitlab_flow import TEAM, admin, lab, linked, push  # noqa: F401 - fixtures, reused
from tests.support.authorship import create_authored
from tests.support.fake_gitlab import FakeGitLab
from tests.support.inprocess import System


def test_template_on_gitlab(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,  # noqa: F811
                            linked: dict[str, Any]) -> None:  # noqa: F811
    system, fake, world = lab
    project = world["project"]
    gitops = {"connection_id": linked["connection"]["id"], "repository": "acme/app", "branch": "main",
              "path": "/deploy/app.json", "mode": "create", "commit_message": "Add app"}
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "app", "content": {"replicas": 1}, "gitops": gitops})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    content, first = project.files["main"]["deploy/app.json"]
    assert json.loads(content) == {"replicas": 1} and project.branches["main"] == first

    pushed = fake.put_file(project, "main", "deploy/app.json", '{"replicas": 2}')
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", first, pushed))
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the delivery requested
    current = system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()
    assert current["version"] == 2 and current["content"] == {"replicas": 2}

    saved = system.call("PUT", f"/v1/teams/{TEAM}/templates/{tid}", token=admin,
                        body={"content": {"replicas": 3}, "base_version": 2})
    assert saved.status == 200, saved.body
    ours = project.branches["main"]
    fake.send_event(project, "push", push(fake, project, "refs/heads/main", pushed, ours))
    system.drain("EventRouterFunction")
    system.drain("GitOpsSyncFunction")  # the template syncs the delivery requested
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()["version"] == 3

    by_hand = fake.put_file(project, "main", "deploy/app.json", '{"replicas": 9}')
    conflict = system.call("PUT", f"/v1/teams/{TEAM}/templates/{tid}", token=admin,
                           body={"content": {"replicas": 4}, "base_version": 3})
    assert conflict.status == 409
    assert conflict.json()["repository"] == {"sha": by_hand, "content": {"replicas": 9}}


def test_app_commits_are_authored_by_the_saver(lab: tuple[System, FakeGitLab, dict[str, Any]], admin: str,  # noqa: F811
                                               linked: dict[str, Any]) -> None:  # noqa: F811
    """The token's `name`/`email` become the Commits API's `author_name`/`author_email`; the committer stays the
    token's user. Without them the message names the user in a Co-authored-by trailer."""
    system, _, world = lab
    project = world["project"]
    created = create_authored(system, TEAM, linked["connection"]["id"], "acme/app")
    people = project.commit_people[project.branches["main"]]
    assert (people["author_name"], people["author_email"]) == ("Ada Lovelace", "ada@example.com")
    assert (people["committer_name"], people["committer_email"]) != ("Ada Lovelace", "ada@example.com")
    saved = system.call("PUT", f"/v1/teams/{TEAM}/templates/{created.json()['id']}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1, "commit_message": "Bump"})
    assert saved.status == 200, saved.body
    plain = project.commit_people[project.branches["main"]]
    assert plain["author_name"] == plain["committer_name"] != "Ada Lovelace"
