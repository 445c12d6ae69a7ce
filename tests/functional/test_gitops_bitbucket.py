"""GitOps on Bitbucket Cloud through the real handlers and the fake: a template linked to a file (src API, parents),
updated by a signed push webhook at once (no wait for the scheduled sync); gitconnect's own commit does not come back
as a version; release flow Git triggers (branches, path rules through the diffstat API, pull requests) request runs."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.test_bitbucket_flow import TEAM, admin, bb, linked, restrict_elsewhere  # noqa: F401 - fixtures, reused
from tests.support.authorship import create_authored
from tests.support.bitbucket_fixtures import payload
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_gitlab import fake_sha
from tests.support.inprocess import System


class Bus:
    """Deliveries routed and builds dispatched; every event the bus received, kept by detail type."""

    def __init__(self, system: System) -> None:
        self.system, self.runs, self.builds = system, [], []
        system.bus_events(None)

    def route(self) -> None:
        self.system.drain("EventRouterFunction")
        self.system.drain("GitOpsSyncFunction")  # the template syncs the delivery requested
        self.system.drain("BuildTriggerFunction")
        for event in self.system.bus_events(None):
            (self.runs if event["detail-type"] == "RunRequested" else self.builds).append(event["detail"])

    def new_runs(self) -> list[dict[str, Any]]:
        self.route()
        runs, self.runs = self.runs, []
        return runs


def test_linked_file_follows_pushes_and_saves(bb: tuple[System, FakeBitbucket, dict], admin: str,  # noqa: F811
                                              linked: dict) -> None:  # noqa: F811
    system, fake, world = bb
    bus = Bus(system)
    app = world["app"]
    first = fake.put_file(app, "main", "deploy/app.json", b'{"replicas": 1}')
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "app", "run_on_update": True, "gitops": {
            "connection_id": linked["connection"]["id"], "repository": "acme/app", "branch": "main",
            "path": "/deploy/app.json", "mode": "link"}})
    assert created.status == 201, created.body
    template = created.json()
    assert template["content"] == {"replicas": 1} and template["gitops"]["last_synced_sha"] == first
    # A push to main that changes the file: the webhook updates the template at once, and it runs
    second = fake.put_file(app, "main", "deploy/app.json", b'{"replicas": 3}')
    assert [s for _, s in fake.send_push(app, [{"branch": "main", "old": first, "new": second}])] == [202]
    bus.route()
    current = system.call("GET", f"/v1/teams/{TEAM}/templates/{template['id']}", token=admin).json()
    assert current["version"] == 2 and current["content"] == {"replicas": 3}
    assert [(r["template_id"], r["version"]) for r in bus.new_runs()] == [(template["id"], 2)]
    # Saving in the app commits through Bitbucket's src API on top of the head read; its push echoes back: no version
    saved = system.call("PUT", f"/v1/teams/{TEAM}/templates/{template['id']}", token=admin,
                        body={"content": {"replicas": 5}, "base_version": 2, "commit_message": "Scale to 5"})
    assert saved.status == 200, saved.body
    head = app.branches["main"]
    assert json.loads(app.files["main"]["deploy/app.json"][0]) == {"replicas": 5}
    assert saved.json()["gitops"]["last_synced_sha"] == head
    fake.send_push(app, [{"branch": "main", "old": second, "new": head}])
    bus.route()
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{template['id']}", token=admin).json()["version"] == 3
    assert [r["version"] for r in bus.new_runs()] == [3]  # the save's run; none for the echo
    # Invalid JSON pushed: refused, visible on the template
    broken = fake.put_file(app, "main", "deploy/app.json", b"{nope")
    fake.send_push(app, [{"branch": "main", "old": head, "new": broken}])
    bus.route()
    after = system.call("GET", f"/v1/teams/{TEAM}/templates/{template['id']}", token=admin).json()
    assert after["version"] == 3 and after["gitops"]["status"] == "error"
    assert after["gitops"]["last_error"]["commit_sha"] == broken


def test_release_flow_git_triggers(bb: tuple[System, FakeBitbucket, dict], admin: str,  # noqa: F811
                                   linked: dict) -> None:  # noqa: F811
    system, fake, world = bb
    bus = Bus(system)
    app = world["app"]
    flow = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "release", "kind": "release_flow", "content": {"steps": ["deploy"]}, "triggers": {
            "connection_id": linked["connection"]["id"], "repository": "acme/app", "branches": ["main"],
            "pull_requests": True, "paths": {"include": ["src/**"]}}})
    assert flow.status == 201, flow.body
    flow_id = flow.json()["id"]
    base = app.branches["main"]
    docs, code = fake_sha("docs-change"), fake_sha("code-change")
    fake.add_commit(app, docs, parents=[base])
    fake.set_diffstat(app, docs, base, ["README.md"])
    fake.set_branch(app, "main", docs)
    fake.send_push(app, [{"branch": "main", "old": base, "new": docs}])
    fake.add_commit(app, code, parents=[docs])
    fake.set_diffstat(app, code, docs, ["src/app.py"])
    fake.set_branch(app, "main", code)
    fake.send_push(app, [{"branch": "main", "old": docs, "new": code}])
    bus.route()
    runs = bus.new_runs()
    assert [(r["template_id"], r["sha"], r["trigger"], r["ref"]) for r in runs] == [
        (flow_id, code, "push", "refs/heads/main")]
    # A pull request into main requests a run too
    pr = payload("pull-request-created")
    for side in (pr["repository"], pr["pullrequest"]["source"]["repository"],
                 pr["pullrequest"]["destination"]["repository"]):
        side.update({"uuid": app.uuid, "full_name": "acme/app"})
    pr["pullrequest"]["destination"]["branch"]["name"] = "main"
    fake.send_event(app, "pullrequest:created", pr)
    bus.route()
    assert [(r["template_id"], r["trigger"]) for r in bus.new_runs()] == [(flow_id, "pull_request")]
    listed = system.call("GET", f"/v1/teams/{TEAM}/templates/{flow_id}/runs", token=admin).json()["items"]
    assert [r["trigger"] for r in listed] == ["pull_request", "push"]


def test_namespace_restrictions_apply_to_gitops(bb: tuple[System, FakeBitbucket, dict], admin: str,  # noqa: F811
                                                linked: dict) -> None:  # noqa: F811
    system, _, _ = bb
    base = f"/v1/teams/{TEAM}/connections/{linked['connection']['id']}"
    fetch = {"connection_id": linked["connection"]["id"], "repository": "acme/app", "branch": "main",
             "path": "deploy/app.json"}
    restrict_elsewhere(linked["connection"]["id"], "other")
    try:
        assert system.call("POST", f"/v1/teams/{TEAM}/gitops/fetch", token=admin, body=fetch).status == 403
        created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
            "name": "nope", "content": {}, "gitops": {**fetch, "path": "new.json", "mode": "create"}})
        assert created.status == 403
    finally:
        system.call("PUT", f"{base}/restrictions", token=admin, body={"mode": "unrestricted"})
    lifted = system.call("POST", f"/v1/teams/{TEAM}/gitops/fetch", token=admin, body={**fetch, "path": "none.json"})
    assert lifted.status == 200 and lifted.json()["exists"] is False


def test_app_commits_are_authored_by_the_saver(bb: tuple[System, FakeBitbucket, dict], admin: str,  # noqa: F811
                                               linked: dict) -> None:  # noqa: F811
    """The token's `name`/`email` are the src API's `author` ("Name <email>"); without them no `author` is sent
    (Bitbucket authors the commit as the connection's user) and the message names the user in a trailer."""
    system, _, world = bb
    app = world["app"]
    created = create_authored(system, TEAM, linked["connection"]["id"], "acme/app")
    first = app.commits[app.branches["main"]]
    assert (first["author"], first["message"]) == ("Ada Lovelace <ada@example.com>", "Add authored")
    saved = system.call("PUT", f"/v1/teams/{TEAM}/templates/{created.json()['id']}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1, "commit_message": "Bump"})
    assert saved.status == 200, saved.body
    second = app.commits[app.branches["main"]]
    assert "author" not in second
    assert second["message"] == "Bump\n\nCo-authored-by: user-1 <user-1@users.gitconnect>"
